/*
 * Reconfiguring a running detector from C: 198.51.100.4 is refused on port
 * 22 by 192.168.1.1-3, the detector takes new home networks and an allow
 * rule, then 192.168.1.4-5 refuse it too: the verdict counts all five (the
 * scan in progress was kept). A change of memory_bytes is refused and
 * changes nothing; a rule allowing the scanner silences it from then on.
 * Prints one line per check and exits with the number of failures.
 */
#include <stdio.h>
#include <string.h>

#include <sweepwatch.h>

#include "check.h"

struct seen {
    unsigned verdicts;
    sw_verdict first;
};

static void on_verdict(void *user, const sw_verdict *v) {
    struct seen *s = user;
    if (s->verdicts++ == 0) s->first = *v;
}

static void probe(sw_detector *det, uint8_t host) {
    sw_event ev;
    memset(&ev, 0, sizeof ev);
    ev.family = SW_FAMILY_IPV4;
    ev.ts_us = 1700000000000000ULL + (uint64_t)host * 1000000;
    memcpy(ev.src_addr, (uint8_t[]){198, 51, 100, 4}, 4);
    memcpy(ev.dst_addr, (uint8_t[]){192, 168, 1, host}, 4);
    ev.src_port = 40000;
    ev.dst_port = 22;
    ev.proto = SW_PROTOCOL_TCP;
    ev.outcome = SW_OUTCOME_REFUSED;
    if (sw_detector_observe(det, &ev) != SW_RESULT_OK) {
        printf("FAIL - observe\n");
        failures++;
    }
}

int main(void) {
    struct seen s = {0};
    sw_config *cfg = sw_config_new();
    sw_detector *det = NULL;
    /* Ordering off: a verdict comes during the call that decides it. */
    if (cfg == NULL || sw_config_set_reorder(cfg, 0, 0) != SW_RESULT_OK ||
        sw_detector_new(cfg, on_verdict, &s, &det) != SW_RESULT_OK) {
        printf("FAIL - detector\n");
        return 1;
    }
    for (uint8_t h = 1; h <= 3; h++) probe(det, h);

    sw_config_clear_home_nets(cfg);
    sw_config_add_home_net(cfg, "192.168.1.0/24");
    sw_config_add_allow(cfg, "192.0.2.10/32", NULL, 0);
    expect_true(sw_detector_reconfigure(det, cfg) == SW_RESULT_OK,
                "new home networks and an allow rule taken while running");
    sw_config *bigger = sw_config_new();
    sw_config_set_memory_bytes(bigger, 128u << 20);
    expect_true(sw_detector_reconfigure(det, bigger) == SW_RESULT_INVALID_CONFIG,
                "a change of memory_bytes is refused");
    char msg[512];
    sw_result_message(SW_RESULT_INVALID_CONFIG, msg, sizeof msg, NULL);
    printf("# %s\n", msg);
    expect_true(strstr(msg, "memory_bytes 67108864 (now 134217728)") != NULL,
                "the message names the change");
    sw_config_free(bigger);
    expect_true(sw_detector_reconfigure(NULL, cfg) == SW_RESULT_NULL_PARAMETER &&
                    sw_detector_reconfigure(det, NULL) == SW_RESULT_NULL_PARAMETER,
                "NULL detector or configuration");

    for (uint8_t h = 4; h <= 5; h++) probe(det, h);
    expect_true(s.verdicts == 1, "one verdict");
    expect_true(s.first.targets == 5 && s.first.failed == 5,
                "it counts the probes from before and after: 5 targets, 5 failed");
    expect_true(s.first.direction == SW_DIRECTION_INBOUND, "inbound under the new home networks");

    sw_config_add_allow(cfg, "198.51.100.4/32", NULL, 0);
    expect_true(sw_detector_reconfigure(det, cfg) == SW_RESULT_OK, "the scanner allowed");
    for (uint8_t h = 6; h <= 60; h++) probe(det, h);
    expect_true(s.verdicts == 1, "an allowed scanner is not reported again");

    sw_config_free(cfg);
    sw_detector_free(det);
    return checks_done();
}
