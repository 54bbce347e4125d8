/*
 * A verdict as JSON from C: sw_verdict_to_json() on a verdict the detector
 * delivered (a sweep of port 22 by 203.0.113.7 across 10.0.0.1-20, every
 * attempt refused), with a buffer of SW_VERDICT_JSON_MAX, with tiny ones
 * (nothing written, the length needed given), and with structs a caller
 * broke. The JSON's numbers must be the struct's. Prints one line per check
 * and exits with the number of failures.
 */
#include <stdio.h>
#include <string.h>

#include <sweepwatch.h>

#include "check.h"

struct first {
    int seen;
    sw_verdict v;
};

static void keep_first(void *user, const sw_verdict *v) {
    struct first *f = user;
    if (!f->seen) {
        f->v = *v; /* plain data: a copy outlives the callback */
        f->seen = 1;
    }
}

/* The number after "key": in `json`, or -1. */
static long long number(const char *json, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *at = strstr(json, pat);
    long long n = -1;
    if (at == NULL || sscanf(at + strlen(pat), "%lld", &n) != 1) return -1;
    return n;
}

int main(void) {
    struct first f = {0};
    sw_config *cfg = sw_config_new();
    sw_detector *det = NULL;
    /* Ordering off: the verdict comes during the call that decides it. */
    if (cfg == NULL || sw_config_set_reorder(cfg, 0, 0) != SW_RESULT_OK ||
        sw_detector_new(cfg, keep_first, &f, &det) != SW_RESULT_OK) {
        printf("FAIL - detector\n");
        return 1;
    }
    sw_config_free(cfg);
    for (int i = 1; i <= 20 && !f.seen; i++) {
        sw_event ev = {0};
        ev.family = SW_FAMILY_IPV4;
        ev.ts_us = 1700000000000000ULL + (uint64_t)i * 100000;
        memcpy(ev.src_addr, (uint8_t[]){203, 0, 113, 7}, 4);
        memcpy(ev.dst_addr, (uint8_t[]){10, 0, 0, (uint8_t)i}, 4);
        ev.src_port = (uint16_t)(40000 + i);
        ev.dst_port = 22;
        ev.proto = SW_PROTOCOL_TCP;
        ev.outcome = SW_OUTCOME_REFUSED;
        sw_detector_observe(det, &ev);
    }
    sw_detector_free(det);
    expect_true(f.seen, "the sweep is reported");
    if (!f.seen) return 1;

    char json[SW_VERDICT_JSON_MAX];
    size_t len = 0;
    expect_result(sw_verdict_to_json(&f.v, json, sizeof json, &len), SW_RESULT_OK,
                  "to_json with SW_VERDICT_JSON_MAX bytes");
    printf("# %s\n", json);
    expect_true(len == strlen(json), "len is the JSON's length without the NUL");
    const char *head = "{\"kind\":\"port_sweep\",\"src\":\"203.0.113.7\",\"direction\":\"inbound\","
                       "\"proto\":\"tcp\",\"ports\":[22],";
    expect_true(strncmp(json, head, strlen(head)) == 0, "kind, src, direction, proto, ports");
    expect_true(len > 0 && json[0] == '{' && json[len - 1] == '}' && strchr(json, '\n') == NULL,
                "one object on one line");
    expect_true(strstr(json, "\"final\":false}") != NULL, "final is false for a decided verdict");
    expect_true(number(json, "targets") == (long long)f.v.targets && f.v.targets >= 5,
                "targets is the struct's, at least min_targets");
    expect_true(number(json, "failed") == (long long)f.v.failed &&
                    number(json, "probes") == (long long)f.v.probes &&
                    number(json, "succeeded") == 0 && number(json, "unanswered") == 0,
                "failed and probes are the struct's; nothing succeeded or went unanswered");
    expect_true(strstr(json, "\"first_seen\":\"2023-11-14T22:13:20.000000Z\"") != NULL,
                "first_seen in RFC 3339");
    expect_true(strstr(json, "\"sample\":[\"10.0.0.") != NULL, "sample of failed targets");

    /* Tiny buffers: nothing written, the length needed given. */
    size_t need = 0;
    expect_result(sw_verdict_to_json(&f.v, NULL, 0, &need), SW_RESULT_INSUFFICIENT_SIZE,
                  "(NULL, 0) asks for the size");
    expect_true(need == len, "the size asked for is the JSON's length");
    char exact[SW_VERDICT_JSON_MAX];
    memset(exact, 'x', sizeof exact);
    expect_result(sw_verdict_to_json(&f.v, exact, len, &need), SW_RESULT_INSUFFICIENT_SIZE,
                  "no room for the NUL");
    int untouched = 1;
    for (size_t i = 0; i < len; i++) untouched &= exact[i] == 'x';
    expect_true(untouched, "a buffer too small is left as it was");
    expect_result(sw_verdict_to_json(&f.v, exact, len + 1, NULL), SW_RESULT_OK,
                  "length + 1 bytes suffice; len_out may be NULL");
    expect_true(strcmp(exact, json) == 0, "the same JSON");
    char tiny[1] = {'x'};
    expect_result(sw_verdict_to_json(&f.v, tiny, sizeof tiny, NULL),
                  SW_RESULT_INSUFFICIENT_SIZE, "one byte");
    expect_true(tiny[0] == 'x', "one byte left as it was");

    /* Structs a caller broke, and NULLs. */
    char msg[256];
    sw_verdict bad = f.v;
    bad.kind = 9;
    expect_result(sw_verdict_to_json(&bad, json, sizeof json, NULL), SW_RESULT_INVALID_ARGUMENT,
                  "kind 9");
    sw_result_message(SW_RESULT_INVALID_ARGUMENT, msg, sizeof msg, NULL);
    expect_true(strstr(msg, "sw_verdict.kind 9 is no sw_kind") != NULL, "message names kind");
    bad = f.v;
    bad.n_ports = 9;
    expect_result(sw_verdict_to_json(&bad, json, sizeof json, NULL), SW_RESULT_INVALID_ARGUMENT,
                  "n_ports 9");
    bad = f.v;
    bad.src_family = 5;
    expect_result(sw_verdict_to_json(&bad, json, sizeof json, NULL), SW_RESULT_INVALID_ARGUMENT,
                  "src_family 5");
    expect_result(sw_verdict_to_json(NULL, json, sizeof json, NULL), SW_RESULT_NULL_PARAMETER,
                  "NULL verdict");
    expect_result(sw_verdict_to_json(&f.v, NULL, 8, NULL), SW_RESULT_NULL_PARAMETER,
                  "NULL buffer with a size");

    return checks_done();
}
