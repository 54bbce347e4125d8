/*
 * Four threads feed one detector at once, each its share of every source's
 * events: sw_detector_observe() and sw_detector_observe_batch() are
 * thread-safe, and the verdict callback runs on whichever thread decided, so
 * it locks what it shares.
 *
 * Five scanners (two port sweeps, a port scan, an outbound sweep from a home
 * host, an ICMP sweep) hide among benign clients. Events wait in the
 * detector's ordering window until they are due; sw_detector_flush() feeds
 * the rest at the end and delivers each reported source's final extent.
 * Exits 0 only if exactly the five are reported, once each as decided and
 * once with their final extent.
 *
 *   cc -std=c11 -pthread threads.c $(pkg-config --cflags --libs sweepwatch) -o threads
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sweepwatch.h>

#define T0_US 1700000000000000ULL
#define THREADS 4
#define MAX_EVENTS 1024
#define MAX_VERDICTS 64
#define BATCH 16

struct expected {
    const char *src;
    uint8_t kind;
};

static const struct expected EXPECTED[] = {
    {"203.0.113.1", SW_KIND_PORT_SWEEP},
    {"203.0.113.2", SW_KIND_PORT_SWEEP},
    {"198.51.100.3", SW_KIND_PORT_SCAN},
    {"10.9.0.4", SW_KIND_OUTBOUND_SWEEP},
    {"203.0.113.5", SW_KIND_ICMP_SWEEP},
};
#define N_EXPECTED (sizeof EXPECTED / sizeof EXPECTED[0])

/* Verdicts, appended by the callback from any feeding thread. */
struct verdicts {
    pthread_mutex_t lock;
    sw_verdict list[MAX_VERDICTS];
    unsigned n;
    unsigned dropped;
};

struct work {
    const sw_detector *det;
    const sw_event *events;
    unsigned n_events;
    unsigned index; /* this thread takes events index, index + THREADS, ... */
    sw_result result;
};

static void on_verdict(void *user_data, const sw_verdict *v) {
    struct verdicts *out = user_data;
    /* Copy: *v is valid only during this call. */
    pthread_mutex_lock(&out->lock);
    if (out->n < MAX_VERDICTS) {
        out->list[out->n++] = *v;
    } else {
        out->dropped++;
    }
    pthread_mutex_unlock(&out->lock);
}

static void *feed(void *arg) {
    struct work *w = arg;
    sw_event batch[BATCH];
    unsigned n = 0;
    w->result = SW_RESULT_OK;
    for (unsigned i = w->index; i < w->n_events && w->result == SW_RESULT_OK; i += THREADS) {
        if (w->index % 2 == 0) {
            /* Even threads feed one event at a time... */
            w->result = sw_detector_observe(w->det, &w->events[i]);
        } else {
            /* ...odd threads in batches. */
            batch[n++] = w->events[i];
            if (n == BATCH) {
                w->result = sw_detector_observe_batch(w->det, batch, n);
                n = 0;
            }
        }
    }
    if (w->result == SW_RESULT_OK && n > 0) {
        w->result = sw_detector_observe_batch(w->det, batch, n);
    }
    return NULL;
}

static void add(sw_event *events, unsigned *n, const char *src, const char *dst, uint16_t port,
                uint8_t proto, uint8_t outcome) {
    sw_event *ev = &events[(*n)++];
    memset(ev, 0, sizeof *ev);
    ev->ts_us = T0_US + (uint64_t)*n * 10000u;
    ev->family = SW_FAMILY_IPV4;
    inet_pton(AF_INET, src, ev->src_addr);
    inet_pton(AF_INET, dst, ev->dst_addr);
    ev->src_port = proto == SW_PROTOCOL_ICMP ? 0 : 50000;
    ev->dst_port = port;
    ev->proto = proto;
    ev->outcome = outcome;
}

/* Interleaves every source's events, so each thread gets a share of each. */
static unsigned workload(sw_event *events) {
    unsigned n = 0;
    char dst[INET_ADDRSTRLEN];
    for (unsigned i = 1; i <= 40; i++) {
        snprintf(dst, sizeof dst, "10.2.0.%u", i);
        add(events, &n, "203.0.113.1", dst, 22, SW_PROTOCOL_TCP, SW_OUTCOME_REFUSED);
        snprintf(dst, sizeof dst, "10.3.0.%u", i);
        add(events, &n, "203.0.113.2", dst, 3389, SW_PROTOCOL_TCP, SW_OUTCOME_UNANSWERED);
        add(events, &n, "198.51.100.3", "10.4.0.9", (uint16_t)(1000 + i), SW_PROTOCOL_TCP,
            SW_OUTCOME_REFUSED);
        snprintf(dst, sizeof dst, "198.18.%u.%u", i % 7, i);
        add(events, &n, "10.9.0.4", dst, 445, SW_PROTOCOL_TCP, SW_OUTCOME_UNANSWERED);
        snprintf(dst, sizeof dst, "10.5.0.%u", i);
        add(events, &n, "203.0.113.5", dst, 0, SW_PROTOCOL_ICMP, SW_OUTCOME_UNANSWERED);
        /* Benign: home clients reach a web server; a visitor browses home hosts. */
        snprintf(dst, sizeof dst, "10.6.0.%u", 1 + i % 20);
        add(events, &n, dst, "192.0.2.80", 443, SW_PROTOCOL_TCP, SW_OUTCOME_ESTABLISHED);
        snprintf(dst, sizeof dst, "10.7.0.%u", i);
        add(events, &n, "198.51.100.99", dst, 80, SW_PROTOCOL_TCP, SW_OUTCOME_ESTABLISHED);
        add(events, &n, "10.8.0.1", "192.0.2.53", 53, SW_PROTOCOL_UDP, SW_OUTCOME_ESTABLISHED);
    }
    return n;
}

int main(void) {
    static sw_event events[MAX_EVENTS];
    static struct verdicts out;
    struct work work[THREADS];
    pthread_t threads[THREADS];
    sw_detector *det = NULL;
    sw_config *cfg = NULL;
    char msg[256];
    int failed = 0;

    pthread_mutex_init(&out.lock, NULL);
    unsigned n = workload(events);

    sw_result r = sw_config_from_toml("home_networks = [\"10.0.0.0/8\"]\n"
                                      "memory_bytes = 8388608\n"
                                      "shards = 16\n",
                                      &cfg, msg, sizeof msg);
    if (r != SW_RESULT_OK) {
        fprintf(stderr, "config: %s\n", msg);
        return 1;
    }
    r = sw_detector_new(cfg, on_verdict, &out, &det);
    sw_config_free(cfg);
    if (r != SW_RESULT_OK) {
        sw_result_message(r, msg, sizeof msg, NULL);
        fprintf(stderr, "detector: %s\n", msg);
        return 1;
    }

    for (unsigned t = 0; t < THREADS; t++) {
        work[t] = (struct work){det, events, n, t, SW_RESULT_OK};
        if (pthread_create(&threads[t], NULL, feed, &work[t]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    }
    for (unsigned t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
        if (work[t].result != SW_RESULT_OK) {
            sw_result_message(work[t].result, msg, sizeof msg, NULL);
            fprintf(stderr, "thread %u: %s\n", t, msg);
            failed = 1;
        }
    }

    r = sw_detector_flush(det);
    if (r != SW_RESULT_OK) {
        sw_result_message(r, msg, sizeof msg, NULL);
        fprintf(stderr, "flush: %s\n", msg);
        failed = 1;
    }

    sw_stats st;
    if (sw_detector_stats(det, &st) == SW_RESULT_OK) {
        printf("events=%llu verdicts=%llu\n", (unsigned long long)st.events,
               (unsigned long long)st.verdicts);
        if (st.events != n) {
            fprintf(stderr, "FAIL: fed %u events, the detector counted %llu\n", n,
                    (unsigned long long)st.events);
            failed = 1;
        }
    }
    sw_detector_free(det);

    /* The feeding threads have been joined: no lock needed from here. */
    unsigned hits[N_EXPECTED] = {0};
    unsigned finals[N_EXPECTED] = {0};
    for (unsigned i = 0; i < out.n; i++) {
        const sw_verdict *v = &out.list[i];
        char src[INET6_ADDRSTRLEN];
        inet_ntop(v->src_family == SW_FAMILY_IPV4 ? AF_INET : AF_INET6, v->src_addr, src,
                  sizeof src);
        printf("verdict kind=%s src=%s targets=%u ports=%u%s\n", sw_kind_name(v->kind), src,
               (unsigned)v->targets, (unsigned)v->ports_count, v->is_final ? " final" : "");
        int known = 0;
        for (unsigned e = 0; e < N_EXPECTED; e++) {
            if (strcmp(src, EXPECTED[e].src) == 0 && v->kind == EXPECTED[e].kind) {
                if (v->is_final) {
                    finals[e]++;
                } else {
                    hits[e]++;
                }
                known = 1;
            }
        }
        if (!known) {
            fprintf(stderr, "FAIL: unexpected verdict %s for %s\n", sw_kind_name(v->kind), src);
            failed = 1;
        }
    }
    for (unsigned e = 0; e < N_EXPECTED; e++) {
        if (hits[e] != 1 || finals[e] != 1) {
            fprintf(stderr, "FAIL: %s %s reported %u times and %u final, expected once each\n",
                    sw_kind_name(EXPECTED[e].kind), EXPECTED[e].src, hits[e], finals[e]);
            failed = 1;
        }
    }
    pthread_mutex_destroy(&out.lock);
    if (failed || out.dropped) {
        return 1;
    }
    printf("OK: %u events from %d threads, the %u expected verdicts\n", n, THREADS,
           (unsigned)N_EXPECTED);
    return 0;
}
