/*
 * The smallest complete use of sweepwatch: one detector, a few hundred events
 * fed one at a time, verdicts printed as they come.
 *
 * 203.0.113.7 probes port 22 across 200 home hosts, which refuse; meanwhile
 * ordinary clients make successful connections. Exits 0 only if the sweep is
 * reported and nothing else is.
 *
 *   cc -std=c11 minimal.c $(pkg-config --cflags --libs sweepwatch) -o minimal
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sweepwatch.h>

#define T0_US 1700000000000000ULL

struct seen {
    unsigned sweeps;    /* verdicts for the expected scanner */
    unsigned unexpected; /* verdicts for anyone else */
};

static void format_addr(char *out, size_t len, uint8_t family, const uint8_t addr[16]) {
    if (inet_ntop(family == SW_FAMILY_IPV4 ? AF_INET : AF_INET6, addr, out, (socklen_t)len) == NULL) {
        snprintf(out, len, "?");
    }
}

/* Runs on the feeding thread during sw_detector_observe(); the verdict pointer
 * is valid only until this function returns. */
static void on_verdict(void *user_data, const sw_verdict *v) {
    struct seen *seen = user_data;
    char src[INET6_ADDRSTRLEN];
    format_addr(src, sizeof src, v->src_family, v->src_addr);
    /* A final extent (from sw_detector_flush) is the source's evidence as it
     * ended; a verdict is the moment it was decided. */
    printf("%s kind=%s src=%s direction=%s ports=", v->is_final ? "final" : "verdict",
           sw_kind_name(v->kind), src, sw_direction_name(v->direction));
    for (unsigned i = 0; i < v->n_ports; i++) {
        printf("%s%u", i ? "," : "", (unsigned)v->ports[i]);
    }
    printf(" targets=%u failed=%u succeeded=%u score=%.2f\n", (unsigned)v->targets,
           (unsigned)v->failed, (unsigned)v->succeeded, (double)v->score);
    if (strcmp(src, "203.0.113.7") == 0 && v->kind == SW_KIND_PORT_SWEEP && v->n_ports >= 1 &&
        v->ports[0] == 22) {
        seen->sweeps++;
    } else {
        seen->unexpected++;
    }
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

static int check(sw_result r, const char *what) {
    if (r != SW_RESULT_OK) {
        char msg[256];
        sw_result_message(r, msg, sizeof msg, NULL);
        fprintf(stderr, "%s: %s\n", what, msg);
        return 0;
    }
    return 1;
}

int main(void) {
    /* Before 1.0 a minor release may change the ABI: refuse a shared library
     * other than the one this program was built for. */
    if (sw_version_number() / 100 != SW_VERSION_NUMBER / 100) {
        fprintf(stderr, "libsweepwatch %s, but built for %d.%d\n", sw_version(), SW_VERSION_MAJOR,
                SW_VERSION_MINOR);
        return 1;
    }
    struct seen seen = {0, 0};
    sw_config *cfg = sw_config_new();
    sw_detector *det = NULL;
    unsigned fed = 0;
    int ok = cfg != NULL;

    printf("sweepwatch %s (header %d.%d.%d)\n", sw_version(), SW_VERSION_MAJOR,
           SW_VERSION_MINOR, SW_VERSION_PATCH);
    ok = ok && check(sw_config_clear_home_nets(cfg), "clear home nets");
    ok = ok && check(sw_config_add_home_net(cfg, "10.1.0.0/16"), "add home net");
    ok = ok && check(sw_config_set_memory_bytes(cfg, 8u << 20), "memory");
    ok = ok && check(sw_config_set_shards(cfg, 4), "shards");
    ok = ok && check(sw_detector_new(cfg, on_verdict, &seen, &det), "detector");
    sw_config_free(cfg); /* the detector keeps its own copy */

    for (unsigned i = 0; ok && i < 200; i++) {
        const uint8_t scanner[4] = {203, 0, 113, 7};
        const uint8_t target[4] = {10, 1, (uint8_t)(i / 250), (uint8_t)(1 + i % 250)};
        const uint8_t client[4] = {10, 1, 9, (uint8_t)(1 + i % 50)};
        const uint8_t server[4] = {192, 0, 2, (uint8_t)(10 + i % 3)};
        const uint8_t visitor[4] = {198, 51, 100, (uint8_t)(1 + i % 20)};
        const uint8_t web[4] = {10, 1, 8, 80};
        uint64_t ts = T0_US + (uint64_t)i * 250000u;
        /* Every step the sweep; every second a client; every fourth a visitor:
         * 350 events in all. */
        sw_event evs[3];
        unsigned n = 0;
        evs[n++] = event(ts, scanner, target, 22, SW_OUTCOME_REFUSED);
        if (i % 2 == 0) {
            evs[n++] = event(ts + 1000, client, server, 443, SW_OUTCOME_ESTABLISHED);
        }
        if (i % 4 == 0) {
            evs[n++] = event(ts + 2000, visitor, web, 80, SW_OUTCOME_ESTABLISHED);
        }
        for (unsigned k = 0; ok && k < n; k++) {
            ok = check(sw_detector_observe(det, &evs[k]), "observe");
            fed++;
        }
    }

    /* At the end of the input: how far each reported scan went. */
    ok = ok && check(sw_detector_flush(det), "flush");
    sw_stats st;
    if (ok && check(sw_detector_stats(det, &st), "stats")) {
        printf("events=%llu sources=%llu verdicts=%llu\n", (unsigned long long)st.events,
               (unsigned long long)st.sources, (unsigned long long)st.verdicts);
    }
    sw_detector_free(det);

    if (!ok) {
        return 1;
    }
    if (seen.sweeps == 0 || seen.unexpected != 0) {
        fprintf(stderr, "FAIL: %u sweep verdicts for 203.0.113.7, %u unexpected, %u events\n",
                seen.sweeps, seen.unexpected, fed);
        return 1;
    }
    printf("OK: port sweep of 22 by 203.0.113.7 reported, %u events\n", fed);
    return 0;
}
