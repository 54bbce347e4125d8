// The header from C++17: included twice (the include guard must hold), with
// the enums' fixed underlying types, extern "C" linkage and a lambda callback.
#include <sweepwatch.h>
#include <sweepwatch.h>

#include <cstdio>
#include <cstring>
#include <type_traits>

static_assert(std::is_same<std::underlying_type<sw_result>::type, uint32_t>::value,
              "sw_result is 32 bits, as in C");
static_assert(std::is_same<std::underlying_type<sw_kind>::type, uint8_t>::value,
              "sw_kind is a byte, as in sw_verdict");
static_assert(SW_RESULT_OK == 0 && SW_RESULT_PANIC == 5, "result numbers are fixed");
static_assert(std::is_standard_layout<sw_event>::value && std::is_trivially_copyable<sw_verdict>::value,
              "plain structs");

int main() {
    sw_config *cfg = sw_config_new();
    sw_detector *det = nullptr;
    unsigned verdicts = 0;
    // A lambda without captures converts to the callback's function pointer.
    sw_verdict_callback cb = [](void *user_data, const sw_verdict *v) {
        if (v->kind == SW_KIND_PORT_SWEEP && !v->is_final) {
            ++*static_cast<unsigned *>(user_data);
        }
    };
    sw_result r = sw_detector_new(cfg, cb, &verdicts, &det);
    sw_config_free(cfg);
    if (r != SW_RESULT_OK) {
        return 1;
    }
    for (uint8_t host = 1; host <= 10; host++) {
        sw_event ev{};
        ev.ts_us = 1700000000000000ULL + host;
        ev.family = SW_FAMILY_IPV4;
        const uint8_t src[4] = {203, 0, 113, 7};
        const uint8_t dst[4] = {10, 0, 0, host};
        std::memcpy(ev.src_addr, src, sizeof src);
        std::memcpy(ev.dst_addr, dst, sizeof dst);
        ev.dst_port = 22;
        ev.proto = SW_PROTOCOL_TCP;
        ev.outcome = SW_OUTCOME_REFUSED;
        if (sw_detector_observe(det, &ev) != SW_RESULT_OK) {
            return 1;
        }
    }
    // Held in the ordering window until flushed; final extents are not counted.
    if (sw_detector_flush(det) != SW_RESULT_OK) {
        return 1;
    }
    sw_detector_free(det);
    std::printf("C++: %u verdict(s)\n", verdicts);
    return verdicts == 1 ? 0 : 1;
}
