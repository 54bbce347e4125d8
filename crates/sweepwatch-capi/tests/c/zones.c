/*
 * Zones from C: the same addresses in two zones (tenants, VRFs, VLANs whose
 * addresses overlap) are tracked apart. 203.0.113.7 is refused on port 22
 * by 10.0.0.1-8: in one zone that is a sweep of 8 hosts; split 4 and 4
 * across zones 1 and 2, neither half reaches min_targets (5). A sweep in
 * zone 7 is reported with its zone, in the struct and in the JSON. Prints
 * one line per check and exits with the number of failures.
 */
#include <stdio.h>
#include <string.h>

#include <sweepwatch.h>

#include "check.h"

struct seen {
    unsigned verdicts;
    sw_verdict last;
};

static void on_verdict(void *user, const sw_verdict *v) {
    struct seen *s = user;
    s->verdicts++;
    s->last = *v;
}

/* Feeds the 8 refused probes, the first 4 in zone `z1`, the rest in `z2`,
 * then flushes; returns what was seen. */
static struct seen run(uint32_t z1, uint32_t z2) {
    struct seen s = {0};
    sw_config *cfg = sw_config_new();
    sw_detector *det = NULL;
    if (cfg == NULL || sw_detector_new(cfg, on_verdict, &s, &det) != SW_RESULT_OK) {
        printf("FAIL - detector\n");
        failures++;
        sw_config_free(cfg);
        return s;
    }
    sw_config_free(cfg);
    sw_event evs[8];
    memset(evs, 0, sizeof evs);
    for (int i = 0; i < 8; i++) {
        sw_event *ev = &evs[i];
        ev->family = SW_FAMILY_IPV4;
        ev->ts_us = 1700000000000000ULL + (uint64_t)i * 100000;
        memcpy(ev->src_addr, (uint8_t[]){203, 0, 113, 7}, 4);
        memcpy(ev->dst_addr, (uint8_t[]){10, 0, 0, (uint8_t)(i + 1)}, 4);
        ev->src_port = (uint16_t)(40000 + i);
        ev->dst_port = 22;
        ev->proto = SW_PROTOCOL_TCP;
        ev->outcome = SW_OUTCOME_REFUSED;
        ev->zone = i < 4 ? z1 : z2;
    }
    if (sw_detector_observe_batch(det, evs, 8) != SW_RESULT_OK ||
        sw_detector_flush(det) != SW_RESULT_OK) {
        printf("FAIL - feeding\n");
        failures++;
    }
    sw_detector_free(det);
    return s;
}

int main(void) {
    struct seen one = run(0, 0);
    expect_true(one.verdicts >= 1 && one.last.zone == 0, "one zone: the 8 refusals are a sweep");
    struct seen split = run(1, 2);
    expect_true(split.verdicts == 0, "zones 1 and 2: 4 and 4 refusals, no sweep in either");
    struct seen seven = run(7, 7);
    expect_true(seven.verdicts >= 1 && seven.last.zone == 7, "zone 7's sweep carries zone 7");
    char json[SW_VERDICT_JSON_MAX];
    expect_true(sw_verdict_to_json(&seven.last, json, sizeof json, NULL) == SW_RESULT_OK &&
                    strstr(json, ",\"zone\":7}") != NULL,
                "its JSON ends with \"zone\":7");
    printf("# %s\n", json);
    return checks_done();
}
