/*
 * A detector saved, freed and restored goes on as one that never stopped,
 * through a buffer and through a file descriptor, with the events its
 * ordering window held at the save.
 *
 * Two minutes of traffic, one event a second: 203.0.113.7 probes port 22 of
 * a new home host every 2 s from 40 s on (a port sweep), 198.51.100.3 probes
 * a new port of 10.0.1.9 every 4 s (a port scan), and home clients' contacts
 * are answered. Every run starts from one saved empty detector, so all share
 * its random hash keys. The input is cut at 70 s: the 60 s window then holds
 * the sweeper's probes, so its verdict can only come after the restore. A
 * state cut short is refused with SW_RESULT_INVALID_STATE.
 *
 * Prints one line per check and "N checks, F failed"; exits 1 if any failed.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sweepwatch.h>

#include "check.h"

#define T0_US 1700000000000000ULL
#define EVENTS 120
#define CUT 70
#define MAX_VERDICTS 16

struct seen {
    unsigned n;
    sw_verdict v[MAX_VERDICTS];
};

static void on_verdict(void *user_data, const sw_verdict *v) {
    struct seen *s = user_data;
    if (s->n < MAX_VERDICTS) {
        s->v[s->n] = *v;
    }
    s->n++;
}

static sw_event event(unsigned t) {
    sw_event ev;
    memset(&ev, 0, sizeof ev);
    ev.ts_us = T0_US + (uint64_t)t * 1000000u;
    ev.family = SW_FAMILY_IPV4;
    ev.proto = SW_PROTOCOL_TCP;
    ev.outcome = SW_OUTCOME_REFUSED;
    if (t >= 40 && t % 2 == 0) {
        const uint8_t src[4] = {203, 0, 113, 7}, dst[4] = {10, 0, 0, (uint8_t)(t / 2)};
        memcpy(ev.src_addr, src, 4);
        memcpy(ev.dst_addr, dst, 4);
        ev.dst_port = 22;
    } else if (t % 4 == 1) {
        const uint8_t src[4] = {198, 51, 100, 3}, dst[4] = {10, 0, 1, 9};
        memcpy(ev.src_addr, src, 4);
        memcpy(ev.dst_addr, dst, 4);
        ev.dst_port = (uint16_t)(1000 + t / 4);
    } else {
        const uint8_t src[4] = {10, 0, 2, (uint8_t)(t % 7)}, dst[4] = {192, 0, 2, 80};
        memcpy(ev.src_addr, src, 4);
        memcpy(ev.dst_addr, dst, 4);
        ev.dst_port = 443;
        ev.outcome = SW_OUTCOME_ESTABLISHED;
    }
    return ev;
}

static sw_config *config(void) {
    sw_config *cfg = sw_config_new();
    if (cfg == NULL || sw_config_set_memory_bytes(cfg, 2u << 20) != SW_RESULT_OK ||
        sw_config_set_shards(cfg, 2) != SW_RESULT_OK ||
        sw_config_set_reorder(cfg, 60, 4096) != SW_RESULT_OK ||
        sw_config_add_home_net(cfg, "10.0.0.0/8") != SW_RESULT_OK) {
        sw_config_free(cfg);
        return NULL;
    }
    return cfg;
}

static int feed(sw_detector *det, unsigned from, unsigned to) {
    for (unsigned t = from; t < to; t++) {
        sw_event ev = event(t);
        if (sw_detector_observe(det, &ev) != SW_RESULT_OK) {
            return 0;
        }
    }
    return 1;
}

/* The detector's state in a malloc'd buffer of the size asked first. */
static uint8_t *save(const sw_detector *det, size_t *len) {
    size_t need = 0;
    if (sw_detector_save(det, NULL, 0, &need) != SW_RESULT_INSUFFICIENT_SIZE || need == 0) {
        return NULL;
    }
    uint8_t *buf = malloc(need);
    if (buf != NULL && sw_detector_save(det, buf, need, len) == SW_RESULT_OK && *len == need) {
        return buf;
    }
    free(buf);
    return NULL;
}

static sw_detector *restore(const uint8_t *state, size_t len, struct seen *s) {
    sw_config *cfg = config();
    sw_detector *det = NULL;
    if (cfg != NULL && sw_detector_restore(cfg, state, len, on_verdict, s, &det) != SW_RESULT_OK) {
        det = NULL;
    }
    sw_config_free(cfg);
    return det;
}

static int same_source(const sw_verdict *v, uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    const uint8_t want[4] = {a, b, c, d};
    return v->src_family == SW_FAMILY_IPV4 && memcmp(v->src_addr, want, 4) == 0;
}

static int before(const sw_verdict *a, const sw_verdict *b) {
    if (a->ts_us != b->ts_us) {
        return a->ts_us < b->ts_us;
    }
    int c = memcmp(a->src_addr, b->src_addr, sizeof a->src_addr);
    if (c != 0) {
        return c < 0;
    }
    return a->is_final < b->is_final;
}

/* Verdicts of sources in other shards may come in another order: compare
 * them sorted. */
static void sort(struct seen *s) {
    unsigned n = s->n < MAX_VERDICTS ? s->n : MAX_VERDICTS;
    for (unsigned i = 1; i < n; i++) {
        for (unsigned j = i; j > 0 && before(&s->v[j], &s->v[j - 1]); j--) {
            sw_verdict x = s->v[j];
            s->v[j] = s->v[j - 1];
            s->v[j - 1] = x;
        }
    }
}

static int same_verdicts(struct seen *a, struct seen *b) {
    sort(a);
    sort(b);
    if (a->n != b->n || a->n > MAX_VERDICTS) {
        return 0;
    }
    for (unsigned i = 0; i < a->n; i++) {
        const sw_verdict *x = &a->v[i], *y = &b->v[i];
        if (x->ts_us != y->ts_us || x->first_seen_us != y->first_seen_us || x->kind != y->kind ||
            x->direction != y->direction || memcmp(x->src_addr, y->src_addr, 16) != 0 ||
            x->n_ports != y->n_ports || memcmp(x->ports, y->ports, sizeof x->ports) != 0 ||
            x->targets != y->targets || x->ports_count != y->ports_count || x->failed != y->failed ||
            x->succeeded != y->succeeded || x->probes != y->probes || x->score != y->score ||
            x->is_final != y->is_final) {
            return 0;
        }
    }
    return 1;
}

/* The whole input and a flush; freed. */
static int finish(sw_detector *det, unsigned from) {
    int ok = det != NULL && feed(det, from, EVENTS) && sw_detector_flush(det) == SW_RESULT_OK;
    sw_stats st;
    ok = ok && sw_detector_stats(det, &st) == SW_RESULT_OK && st.events == EVENTS;
    sw_detector_free(det);
    return ok;
}

int main(void) {
    /* One empty detector's state: the hash keys every run starts from. */
    size_t blank_len = 0;
    uint8_t *blank = NULL;
    {
        sw_config *cfg = config();
        sw_detector *det = NULL;
        struct seen none = {0};
        if (cfg != NULL && sw_detector_new(cfg, on_verdict, &none, &det) == SW_RESULT_OK) {
            blank = save(det, &blank_len);
        }
        sw_config_free(cfg);
        sw_detector_free(det);
    }
    expect_true(blank != NULL, "an empty detector saved, its size asked with (NULL, 0)");
    if (blank == NULL) {
        checks_done();
        return 1;
    }

    /* Uninterrupted. */
    static struct seen whole, by_buf, by_fd;
    expect_true(finish(restore(blank, blank_len, &whole), 0), "uninterrupted run fed and flushed");
    unsigned sweeps = 0, scans = 0;
    for (unsigned i = 0; i < whole.n && i < MAX_VERDICTS; i++) {
        const sw_verdict *v = &whole.v[i];
        if (v->is_final) {
            continue;
        }
        sweeps += v->kind == SW_KIND_PORT_SWEEP && same_source(v, 203, 0, 113, 7) && v->ports[0] == 22;
        scans += v->kind == SW_KIND_PORT_SCAN && same_source(v, 198, 51, 100, 3);
    }
    expect_true(sweeps == 1 && scans == 1, "uninterrupted: one sweep from 203.0.113.7, one scan from 198.51.100.3");

    /* Through a buffer: save, free, restore, go on. */
    size_t len = 0;
    uint8_t *state = NULL;
    {
        sw_detector *det = restore(blank, blank_len, &by_buf);
        int ok = det != NULL && feed(det, 0, CUT);
        unsigned swept = 0;
        for (unsigned i = 0; i < by_buf.n && i < MAX_VERDICTS; i++) {
            swept += same_source(&by_buf.v[i], 203, 0, 113, 7);
        }
        expect_true(ok && swept == 0, "before the save, the sweep's events wait in the window");
        state = ok ? save(det, &len) : NULL;
        expect_true(state != NULL, "saved into a buffer");
        sw_detector_free(det);
    }
    if (state != NULL) {
        expect_true(finish(restore(state, len, &by_buf), CUT), "restored from the buffer, fed and flushed");
        expect_true(same_verdicts(&whole, &by_buf), "buffer: the same verdicts as uninterrupted");

        /* Cut short: refused, nothing created. */
        sw_detector *det = (sw_detector *)&checks;
        sw_config *cfg = config();
        struct seen none = {0};
        sw_result r = sw_detector_restore(cfg, state, len - 1, on_verdict, &none, &det);
        char msg[256];
        size_t n = 0;
        sw_result_message(r, msg, sizeof msg, &n);
        expect_true(r == SW_RESULT_INVALID_STATE && det == (sw_detector *)&checks && strstr(msg, "cut short"),
               "a state cut short by one byte: SW_RESULT_INVALID_STATE, nothing created");
        r = sw_detector_restore(cfg, state, len / 2, on_verdict, &none, &det);
        expect_true(r == SW_RESULT_INVALID_STATE && none.n == 0, "a state cut in half: SW_RESULT_INVALID_STATE");
        sw_config_free(cfg);
    }

    /* Through a file descriptor (a temporary file). */
    {
        FILE *f = tmpfile();
        sw_detector *det = restore(blank, blank_len, &by_fd);
        int ok = f != NULL && det != NULL && feed(det, 0, CUT);
        ok = ok && sw_detector_save_fd(det, fileno(f)) == SW_RESULT_OK;
        off_t end = f != NULL ? lseek(fileno(f), 0, SEEK_CUR) : -1;
        expect_true(ok && end > 0 && (size_t)end == len, "saved to a file descriptor: the buffer's size");
        sw_detector_free(det);
        det = NULL;
        sw_config *cfg = config();
        ok = ok && cfg != NULL && lseek(fileno(f), 0, SEEK_SET) == 0 &&
             sw_detector_restore_fd(cfg, fileno(f), on_verdict, &by_fd, &det) == SW_RESULT_OK;
        sw_config_free(cfg);
        expect_true(ok && lseek(fileno(f), 0, SEEK_CUR) == end, "restored from it, read up to the state's end");
        expect_true(finish(det, CUT), "fed and flushed after the restore");
        expect_true(same_verdicts(&whole, &by_fd), "file descriptor: the same verdicts as uninterrupted");
        if (f != NULL) {
            fclose(f);
        }
    }

    free(state);
    free(blank);
    return checks_done();
}
