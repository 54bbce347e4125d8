/*
 * The C ABI feeds outcomes to the sequential test in the order their probes
 * were made, however late each was known.
 *
 * A home host makes 40 first contacts to external hosts on port 443, one a
 * millisecond; 25 are answered within 2 ms, 15 (spread evenly) never, and an
 * engine learns those only at its timeout, 5 s later. The engine reports each
 * outcome when it knows it, stamped with the time its probe was sent. With
 * the default ordering window: no verdict. The 15 failures alone: an
 * outbound sweep. The burst with ordering off (outcomes walked as they came,
 * answers first): reported, which is what the window prevents.
 *
 * Prints one line per check and "N checks, F failed"; exits 1 if any failed.
 */
#include <stdio.h>
#include <string.h>

#include <sweepwatch.h>

#include "check.h"

#define T0_US 1700000000000000ULL
#define CONTACTS 40
#define FAILED 15

struct seen {
    unsigned decided;
    unsigned outbound_from_src;
};

static void on_verdict(void *user_data, const sw_verdict *v) {
    struct seen *s = user_data;
    const uint8_t src[4] = {10, 0, 0, 5};
    if (v->is_final) {
        return;
    }
    s->decided++;
    if (v->kind == SW_KIND_OUTBOUND_SWEEP && v->src_family == SW_FAMILY_IPV4 &&
        memcmp(v->src_addr, src, 4) == 0 && v->succeeded == 0) {
        s->outbound_from_src++;
    }
}

static int fails(unsigned i) {
    return (i + 1) * FAILED / CONTACTS > i * FAILED / CONTACTS;
}

static sw_event outcome(unsigned i) {
    sw_event ev;
    memset(&ev, 0, sizeof ev);
    ev.ts_us = T0_US + (uint64_t)i * 1000u; /* when the probe was sent */
    ev.family = SW_FAMILY_IPV4;
    const uint8_t src[4] = {10, 0, 0, 5};
    const uint8_t dst[4] = {198, 51, 100, (uint8_t)(1 + i)};
    memcpy(ev.src_addr, src, 4);
    memcpy(ev.dst_addr, dst, 4);
    ev.src_port = (uint16_t)(40000 + i);
    ev.dst_port = 443;
    ev.proto = SW_PROTOCOL_TCP;
    ev.outcome = fails(i) ? SW_OUTCOME_UNANSWERED : SW_OUTCOME_ESTABLISHED;
    return ev;
}

/* Feeds the burst as an engine learns it: answers during the burst, the
 * failures after their timeout. `answers` 0 leaves the answers out. */
static struct seen run(int answers, int ordered) {
    struct seen s = {0, 0};
    sw_config *cfg = sw_config_new();
    sw_detector *det = NULL;
    int ok = cfg != NULL && sw_config_set_hash_seed(cfg, 1) == SW_RESULT_OK &&
             sw_config_set_memory_bytes(cfg, 2u << 20) == SW_RESULT_OK;
    if (ok && !ordered) {
        ok = sw_config_set_reorder(cfg, 0, 0) == SW_RESULT_OK;
    }
    ok = ok && sw_detector_new(cfg, on_verdict, &s, &det) == SW_RESULT_OK;
    sw_config_free(cfg);
    for (unsigned i = 0; ok && answers && i < CONTACTS; i++) {
        if (!fails(i)) {
            sw_event ev = outcome(i);
            ok = sw_detector_observe(det, &ev) == SW_RESULT_OK;
        }
    }
    for (unsigned i = 0; ok && i < CONTACTS; i++) {
        if (fails(i)) {
            sw_event ev = outcome(i);
            ok = sw_detector_observe(det, &ev) == SW_RESULT_OK;
        }
    }
    ok = ok && sw_detector_flush(det) == SW_RESULT_OK;
    expect_true(ok, "detector made, fed and flushed");
    sw_detector_free(det);
    return s;
}

int main(void) {
    unsigned n = 0;
    for (unsigned i = 0; i < CONTACTS; i++) {
        n += (unsigned)fails(i);
    }
    expect_true(n == FAILED, "15 of the 40 contacts fail");

    struct seen s = run(1, 1);
    expect_true(s.decided == 0, "the burst with its answers, ordered: no verdict");
    s = run(0, 1);
    expect_true(s.decided == 1 && s.outbound_from_src == 1,
           "the failures alone, ordered: one outbound sweep from 10.0.0.5");
    s = run(1, 0);
    expect_true(s.decided == 1, "the burst walked as it came (ordering off): reported");

    return checks_done();
}
