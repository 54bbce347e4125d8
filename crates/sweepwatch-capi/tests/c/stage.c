/*
 * A stage (sw_stage) holds events no longer than its bounds, from C.
 *
 * 203.0.113.7 sweeps port 22 of 40 home hosts, all refused, one a
 * millisecond: with the default minimum of 5 targets the sweep is decided at
 * its fifth host. Through a stage of 8 events with no time bound (ordering
 * off, so that verdicts come as events reach the sequential test): nothing
 * after 7 events, then the 8th hands all 8 over and the verdict (5 targets,
 * the fifth host's time) arrives. The rest of the sweep, staged and freed:
 * every event reaches the detector, with the window on too once it drains.
 * Bad arguments are refused with their documented results.
 *
 * Prints one line per check and "N checks, F failed"; exits 1 if any failed.
 */
#include <stdio.h>
#include <string.h>

#include <sweepwatch.h>

#include "check.h"

#define T0_US 1700000000000000ULL
#define HOSTS 40
#define MAX_VERDICTS 8

struct seen {
    unsigned decided, final;
    sw_verdict v[MAX_VERDICTS];
};

static void on_verdict(void *user_data, const sw_verdict *v) {
    struct seen *s = user_data;
    if (v->is_final) {
        s->final++;
        return;
    }
    if (s->decided < MAX_VERDICTS) {
        s->v[s->decided] = *v;
    }
    s->decided++;
}

/* The sweep's probe of host `i` (1 to 40). */
static sw_event probe(unsigned i) {
    sw_event ev;
    memset(&ev, 0, sizeof ev);
    ev.ts_us = T0_US + (uint64_t)i * 1000u;
    ev.family = SW_FAMILY_IPV4;
    const uint8_t src[4] = {203, 0, 113, 7};
    const uint8_t dst[4] = {192, 168, 1, (uint8_t)i};
    memcpy(ev.src_addr, src, 4);
    memcpy(ev.dst_addr, dst, 4);
    ev.dst_port = 22;
    ev.proto = SW_PROTOCOL_TCP;
    ev.outcome = SW_OUTCOME_REFUSED;
    return ev;
}

static sw_detector *new_detector(struct seen *s, int ordered) {
    sw_config *cfg = sw_config_new();
    sw_detector *det = NULL;
    int ok = cfg != NULL && sw_config_set_hash_seed(cfg, 1) == SW_RESULT_OK &&
             sw_config_set_memory_bytes(cfg, 2u << 20) == SW_RESULT_OK;
    if (ok && !ordered) {
        ok = sw_config_set_reorder(cfg, 0, 0) == SW_RESULT_OK;
    }
    if (ok && sw_detector_new(cfg, on_verdict, s, &det) != SW_RESULT_OK) {
        det = NULL;
    }
    sw_config_free(cfg);
    return det;
}

static uint64_t events_seen(const sw_detector *det) {
    sw_stats st;
    if (sw_detector_stats(det, &st) != SW_RESULT_OK) {
        return (uint64_t)-1;
    }
    return st.events;
}

/* Stages probes first..last (inclusive); 1 if every call succeeded. */
static int stage_probes(sw_stage *stage, unsigned first, unsigned last) {
    for (unsigned i = first; i <= last; i++) {
        sw_event ev = probe(i);
        if (sw_stage_observe(stage, &ev) != SW_RESULT_OK) {
            return 0;
        }
    }
    return 1;
}

static void capacity_bound(void) {
    struct seen s;
    memset(&s, 0, sizeof s);
    sw_detector *det = new_detector(&s, 0);
    sw_stage *stage = NULL;
    expect_true(det != NULL, "detector made (ordering off)");
    expect_true(sw_stage_new(det, 8, UINT64_MAX, &stage) == SW_RESULT_OK && stage != NULL,
           "a stage of 8 events, no time bound");
    int quiet = 1;
    for (unsigned i = 1; i <= 7; i++) {
        sw_event ev = probe(i);
        quiet = quiet && sw_stage_observe(stage, &ev) == SW_RESULT_OK &&
                sw_stage_len(stage) == i && s.decided == 0;
    }
    expect_true(quiet, "7 events staged, none handed over, no verdict");
    expect_true(events_seen(det) == 0, "the detector has seen nothing");
    sw_event eighth = probe(8);
    expect_true(sw_stage_observe(stage, &eighth) == SW_RESULT_OK, "the 8th event staged");
    expect_true(sw_stage_len(stage) == 0 && events_seen(det) == 8, "the 8th hands all 8 over");
    sw_event fifth = probe(5);
    expect_true(s.decided == 1 && s.v[0].kind == SW_KIND_PORT_SWEEP && s.v[0].targets == 5 &&
               s.v[0].ts_us == fifth.ts_us && memcmp(s.v[0].src_addr, fifth.src_addr, 4) == 0,
           "the verdict, decided at the fifth host, arrives with the 8th");

    /* The rest of the sweep: staged, then handed over by sw_stage_free. */
    sw_stage *rest = NULL;
    expect_true(sw_stage_new(det, 1000, UINT64_MAX, &rest) == SW_RESULT_OK, "a stage of 1000");
    expect_true(stage_probes(rest, 9, HOSTS) && sw_stage_len(rest) == HOSTS - 8,
           "32 more events staged");
    expect_true(events_seen(det) == 8, "still staged");
    sw_stage_free(rest);
    expect_true(events_seen(det) == HOSTS, "sw_stage_free handed them over");
    expect_true(sw_detector_flush(det) == SW_RESULT_OK && s.final == 1, "one final extent");
    sw_stage_free(stage);
    sw_detector_free(det);
}

static void free_hands_over_through_the_window(void) {
    struct seen s;
    memset(&s, 0, sizeof s);
    sw_detector *det = new_detector(&s, 1);
    sw_stage *stage = NULL;
    expect_true(det != NULL, "detector made (ordering on)");
    expect_true(sw_stage_new(det, 256, 1000000, &stage) == SW_RESULT_OK, "a stage of 256, 1 s bound");
    expect_true(stage_probes(stage, 1, HOSTS) && sw_stage_len(stage) == HOSTS, "40 events staged");
    sw_stage_free(stage);
    expect_true(sw_detector_flush(det) == SW_RESULT_OK, "window drained");
    expect_true(events_seen(det) == HOSTS && s.decided == 1 && s.v[0].targets == 5,
           "every event reached the detector, and the sweep was decided at 5 targets");
    sw_detector_free(det);
}

static void bad_arguments(void) {
    struct seen s;
    memset(&s, 0, sizeof s);
    sw_detector *det = new_detector(&s, 0);
    sw_stage *stage = NULL;
    sw_event ev = probe(1);

    sw_stage_free(NULL);
    expect_true(sw_stage_len(NULL) == 0, "sw_stage_len(NULL) is 0; sw_stage_free(NULL) a no-op");
    expect_true(sw_stage_new(NULL, 8, 0, &stage) == SW_RESULT_NULL_PARAMETER && stage == NULL,
           "sw_stage_new(NULL detector)");
    expect_true(sw_stage_new(det, 8, 0, NULL) == SW_RESULT_NULL_PARAMETER, "sw_stage_new(NULL out)");
    expect_true(sw_stage_new(det, ((size_t)1 << 24) + 1, 0, &stage) == SW_RESULT_INVALID_ARGUMENT &&
               stage == NULL,
           "a capacity over 1 << 24 is refused");
    expect_true(sw_stage_observe(NULL, &ev) == SW_RESULT_NULL_PARAMETER, "sw_stage_observe(NULL)");
    expect_true(sw_stage_flush(NULL) == SW_RESULT_NULL_PARAMETER, "sw_stage_flush(NULL)");

    expect_true(sw_stage_new(det, 0, UINT64_MAX, &stage) == SW_RESULT_OK, "capacity 0 means 1");
    expect_true(sw_stage_observe(stage, NULL) == SW_RESULT_NULL_PARAMETER, "observe a NULL event");
    ev.outcome = 9;
    expect_true(sw_stage_observe(stage, &ev) == SW_RESULT_INVALID_ARGUMENT, "a malformed event");
    expect_true(events_seen(det) == 0, "not staged, not fed");
    ev = probe(1);
    expect_true(sw_stage_observe(stage, &ev) == SW_RESULT_OK && sw_stage_len(stage) == 0 &&
               events_seen(det) == 1,
           "with room for one, each event goes over at once");
    sw_stage_free(stage);
    sw_detector_free(det);
}

int main(void) {
    capacity_bound();
    free_hands_over_through_the_window();
    bad_arguments();
    return checks_done();
}
