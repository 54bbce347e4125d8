/*
 * A sensor of a deployment of several, publishing from C.
 *
 *   publish URL K N   acts as sensor K of N behind a packet broker
 *
 * 203.0.113.7 is refused on port 22 by the hosts 10.0.0.1 to 10.0.0.8, each
 * probed twice a few seconds apart; a broker gives sensor K the hosts h with
 * (h - 1) % N == K. Every sensor also sees 10.0.0.50's three answered HTTPS
 * connections. This program feeds its share to a local detector and to an
 * sw_publisher at URL, and checks: the local detector (min_targets 5)
 * decides nothing when N > 1, since the sensor sees fewer than 5 hosts; the
 * publisher's counters account for every event (the repeats settled by its
 * filter, the rest published, none dropped); malformed events and NULLs are
 * refused without changing them. scripts/c-tests.sh runs two sensors
 * against one server and has `sweepwatch aggregate` find the sweep of all 8
 * hosts that neither sensor saw.
 *
 * Without arguments it checks only that a server that is not there gives
 * SW_RESULT_UNAVAILABLE with its address in the message.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sweepwatch.h>

#include "check.h"

#define T0_US 1700000000000000ULL
#define HOSTS 8

static unsigned local_verdicts = 0;

static void on_verdict(void *user, const sw_verdict *v) {
    (void)user;
    (void)v;
    local_verdicts++;
}

static sw_event event(uint64_t ts_us, const uint8_t src[4], const uint8_t dst[4], uint16_t port,
                      uint8_t outcome) {
    sw_event ev;
    memset(&ev, 0, sizeof ev);
    ev.ts_us = ts_us;
    ev.family = SW_FAMILY_IPV4;
    memcpy(ev.src_addr, src, 4);
    memcpy(ev.dst_addr, dst, 4);
    ev.src_port = 40000;
    ev.dst_port = port;
    ev.proto = SW_PROTOCOL_TCP;
    ev.outcome = outcome;
    return ev;
}

static void absent_server(void) {
    sw_publisher *p = NULL;
    sw_result r = sw_publisher_new("nats://127.0.0.1:1", NULL, NULL, &p);
    expect_result(r, SW_RESULT_UNAVAILABLE, "no server on 127.0.0.1:1: unavailable");
    expect_true(p == NULL, "no publisher written");
    char msg[512];
    sw_result_message((uint32_t)r, msg, sizeof msg, NULL);
    expect_true(strstr(msg, "nats://127.0.0.1:1") != NULL, "the message names the server");
    printf("# %s\n", msg);
}

int main(int argc, char **argv) {
    absent_server();
    if (argc < 4) {
        return checks_done();
    }
    const char *url = argv[1];
    unsigned k = (unsigned)strtoul(argv[2], NULL, 10);
    unsigned n = (unsigned)strtoul(argv[3], NULL, 10);
    if (n == 0 || k >= n) {
        fprintf(stderr, "usage: publish URL K N (0 <= K < N)\n");
        return 2;
    }

    sw_event evs[64];
    size_t count = 0, repeats = 0, hosts = 0;
    const uint8_t scanner[4] = {203, 0, 113, 7}, client[4] = {10, 0, 0, 50};
    for (unsigned h = 1; h <= HOSTS; h++) {
        if ((h - 1) % n != k) {
            continue;
        }
        const uint8_t dst[4] = {10, 0, 0, (uint8_t)h};
        uint64_t ts = T0_US + (uint64_t)h * 1000000;
        evs[count++] = event(ts, scanner, dst, 22, SW_OUTCOME_REFUSED);
        /* The same probe again 3 s later: a repeat, which never leaves the sensor. */
        evs[count++] = event(ts + 3000000, scanner, dst, 22, SW_OUTCOME_REFUSED);
        repeats++;
        hosts++;
    }
    for (uint8_t s = 1; s <= 3; s++) {
        const uint8_t server[4] = {198, 51, 100, s};
        evs[count++] = event(T0_US + 500000 * s, client, server, 443, SW_OUTCOME_ESTABLISHED);
    }

    sw_config *cfg = sw_config_new();
    sw_detector *det = NULL;
    expect_result(sw_detector_new(cfg, on_verdict, NULL, &det), SW_RESULT_OK, "local detector");

    sw_publisher *p = NULL;
    char name[64];
    snprintf(name, sizeof name, "sensor %u of %u", k, n);
    sw_result r = sw_publisher_new(url, name, cfg, &p);
    expect_result(r, SW_RESULT_OK, "publisher connected");
    sw_config_free(cfg);
    if (r != SW_RESULT_OK) {
        char msg[512];
        sw_result_message((uint32_t)r, msg, sizeof msg, NULL);
        printf("# %s\n", msg);
        sw_detector_free(det);
        return checks_done();
    }

    /* Refused whole, before anything is published. */
    sw_event bad[2] = {evs[0], evs[1]};
    bad[1].family = 9;
    expect_result(sw_publisher_push(p, bad, 2), SW_RESULT_INVALID_ARGUMENT,
                  "a batch with a malformed event is refused");
    expect_result(sw_publisher_push(p, NULL, 1), SW_RESULT_NULL_PARAMETER, "NULL events, n 1");
    expect_result(sw_publisher_push(p, NULL, 0), SW_RESULT_OK, "NULL events, n 0: nothing");
    sw_publish_stats st;
    expect_result(sw_publisher_stats(p, &st), SW_RESULT_OK, "stats");
    expect_true(st.events == 0, "nothing counted yet");
    expect_result(sw_publisher_stats(p, NULL), SW_RESULT_NULL_PARAMETER, "stats into NULL");

    /* One event at a time, as an engine learns of them, then the rest at once. */
    for (size_t i = 0; i < count / 2; i++) {
        sw_detector_observe(det, &evs[i]);
        if (sw_publisher_push(p, &evs[i], 1) != SW_RESULT_OK) {
            expect_true(0, "push one event");
        }
    }
    sw_detector_observe_batch(det, evs + count / 2, count - count / 2);
    expect_result(sw_publisher_push(p, evs + count / 2, count - count / 2), SW_RESULT_OK,
                  "push the rest as a batch");
    expect_result(sw_publisher_tick(p), SW_RESULT_OK, "tick");
    expect_result(sw_publisher_flush(p, 10000), SW_RESULT_OK, "flush: every batch acknowledged");
    sw_detector_flush(det);
    sw_detector_free(det);
    expect_true(n == 1 || local_verdicts == 0, "the local detector alone decides nothing");

    sw_publish_stats fin;
    sw_publisher_free(p, &fin);
    printf("# events=%llu repeats=%llu published=%llu batches=%llu bytes=%llu dropped=%llu\n",
           (unsigned long long)fin.events, (unsigned long long)fin.repeats,
           (unsigned long long)fin.published, (unsigned long long)fin.batches,
           (unsigned long long)fin.bytes, (unsigned long long)fin.dropped);
    expect_true(fin.events == count, "every event counted");
    expect_true(fin.repeats == repeats, "the repeated probes settled at the sensor");
    expect_true(fin.published == count - repeats, "every first contact published");
    expect_true(fin.dropped == 0, "none dropped");
    expect_true(fin.batches >= 1 && fin.bytes > 0, "batches and bytes counted");
    printf("sensor %u of %u: %zu hosts probed, %zu events, %llu published\n", k, n, hosts, count,
           (unsigned long long)fin.published);
    return checks_done();
}
