/*
 * Misuse of the C API: each call must return its documented result and leave
 * the detector unchanged; nothing may crash. Prints one line per check and
 * exits with the number of failures.
 */
#include <stdio.h>
#include <string.h>

#include <sweepwatch.h>

#include "check.h"

/* The message for `r`, with this thread's last error detail. */
static const char *message(sw_result r) {
    static char buf[512];
    if (sw_result_message(r, buf, sizeof buf, NULL) != SW_RESULT_OK) {
        return "";
    }
    return buf;
}

static void expect_message(sw_result r, const char *needle, const char *what) {
    const char *msg = message(r);
    checks++;
    if (strstr(msg, needle) != NULL) {
        printf("ok - %s (\"%s\")\n", what, msg);
    } else {
        printf("FAIL - %s: \"%s\" does not contain \"%s\"\n", what, msg, needle);
        failures++;
    }
}

static sw_event refused(uint8_t host) {
    sw_event ev;
    memset(&ev, 0, sizeof ev);
    ev.ts_us = 1700000000000000ULL + host * 1000000ULL;
    ev.family = SW_FAMILY_IPV4;
    ev.src_addr[0] = 203, ev.src_addr[1] = 0, ev.src_addr[2] = 113, ev.src_addr[3] = 7;
    ev.dst_addr[0] = 10, ev.dst_addr[1] = 0, ev.dst_addr[2] = 0, ev.dst_addr[3] = host;
    ev.dst_port = 22;
    ev.proto = SW_PROTOCOL_TCP;
    ev.outcome = SW_OUTCOME_REFUSED;
    return ev;
}

static uint64_t events_seen(const sw_detector *det) {
    sw_stats st;
    if (sw_detector_stats(det, &st) != SW_RESULT_OK) {
        return (uint64_t)-1;
    }
    return st.events;
}

static void count_verdict(void *user_data, const sw_verdict *v) {
    (void)v;
    ++*(unsigned *)user_data;
}

/* What the reentrant callback got back from the detector delivering to it. */
struct reentry {
    sw_detector *det;
    sw_result observe, batch, advance, stats;
    unsigned calls;
};

static void reenter(void *user_data, const sw_verdict *v) {
    struct reentry *r = user_data;
    sw_event ev = refused(200);
    sw_stats st;
    (void)v;
    r->calls++;
    r->observe = sw_detector_observe(r->det, &ev);
    r->batch = sw_detector_observe_batch(r->det, &ev, 1);
    r->advance = sw_detector_advance(r->det, ev.ts_us);
    r->stats = sw_detector_stats(r->det, &st);
    sw_detector_free(r->det); /* documented to do nothing from a callback */
}

/* Ordering off: these checks need each verdict during the call that decided
 * it, so that callbacks run inside the feeding call they test. */
static sw_detector *new_detector(sw_verdict_callback cb, void *user_data) {
    sw_config *cfg = sw_config_new();
    sw_detector *det = NULL;
    sw_config_set_reorder(cfg, 0, 0);
    sw_config_set_memory_bytes(cfg, 2u << 20);
    sw_config_set_shards(cfg, 2);
    sw_detector_new(cfg, cb, user_data, &det);
    sw_config_free(cfg);
    return det;
}

static void null_handles(void) {
    sw_event ev = refused(1);
    sw_stats st;
    sw_config *cfg = NULL;
    sw_detector *det = NULL;
    unsigned verdicts = 0;

    sw_config_free(NULL);
    sw_detector_free(NULL);
    expect_true(1, "free(NULL) is a no-op");
    expect_result(sw_detector_observe(NULL, &ev), SW_RESULT_NULL_PARAMETER, "observe(NULL det)");
    expect_message(SW_RESULT_NULL_PARAMETER, "detector", "message names the NULL argument");
    expect_result(sw_detector_observe_batch(NULL, &ev, 1), SW_RESULT_NULL_PARAMETER,
                  "observe_batch(NULL det)");
    expect_result(sw_detector_advance(NULL, 0), SW_RESULT_NULL_PARAMETER, "advance(NULL det)");
    expect_result(sw_detector_flush(NULL), SW_RESULT_NULL_PARAMETER, "flush(NULL det)");
    expect_result(sw_detector_stats(NULL, &st), SW_RESULT_NULL_PARAMETER, "stats(NULL det)");
    expect_result(sw_config_set_min_targets(NULL, 5), SW_RESULT_NULL_PARAMETER,
                  "set_min_targets(NULL cfg)");
    expect_result(sw_config_add_home_net(NULL, "10.0.0.0/8"), SW_RESULT_NULL_PARAMETER,
                  "add_home_net(NULL cfg)");
    expect_result(sw_config_validate(NULL), SW_RESULT_NULL_PARAMETER, "validate(NULL)");
    expect_result(sw_detector_new(NULL, count_verdict, &verdicts, &det), SW_RESULT_NULL_PARAMETER,
                  "detector_new(NULL cfg)");
    expect_true(det == NULL, "detector_new leaves *out unchanged on failure");
    expect_result(sw_config_from_toml(NULL, &cfg, NULL, 0), SW_RESULT_NULL_PARAMETER,
                  "from_toml(NULL text)");

    cfg = sw_config_new();
    expect_result(sw_config_add_home_net(cfg, NULL), SW_RESULT_NULL_PARAMETER,
                  "add_home_net(NULL cidr)");
    expect_result(sw_config_add_allow(cfg, "192.0.2.1", NULL, 3), SW_RESULT_NULL_PARAMETER,
                  "add_allow(NULL ports, 3)");
    expect_result(sw_config_add_allow(cfg, "192.0.2.1", NULL, 0), SW_RESULT_OK,
                  "add_allow(NULL ports, 0) allows every port");
    expect_result(sw_detector_new(cfg, NULL, NULL, &det), SW_RESULT_NULL_PARAMETER,
                  "detector_new(NULL callback)");
    expect_result(sw_detector_new(cfg, count_verdict, &verdicts, NULL), SW_RESULT_NULL_PARAMETER,
                  "detector_new(NULL out)");
    sw_config_free(cfg);

    det = new_detector(count_verdict, &verdicts);
    expect_true(det != NULL, "detector created");
    expect_result(sw_detector_observe(det, NULL), SW_RESULT_NULL_PARAMETER, "observe(NULL event)");
    expect_result(sw_detector_observe_batch(det, NULL, 4), SW_RESULT_NULL_PARAMETER,
                  "observe_batch(NULL, 4)");
    expect_result(sw_detector_observe_batch(det, NULL, 0), SW_RESULT_OK,
                  "observe_batch(NULL, 0) is an empty batch");
    expect_result(sw_detector_stats(det, NULL), SW_RESULT_NULL_PARAMETER, "stats(NULL out)");
    expect_true(events_seen(det) == 0, "detector unchanged");
    sw_detector_free(det);
}

static void bad_events(void) {
    unsigned verdicts = 0;
    sw_detector *det = new_detector(count_verdict, &verdicts);
    sw_event ev = refused(1);

    ev.outcome = 7;
    expect_result(sw_detector_observe(det, &ev), SW_RESULT_INVALID_ARGUMENT, "unknown outcome 7");
    expect_message(SW_RESULT_INVALID_ARGUMENT, "outcome 7", "message names the outcome");
    ev = refused(1);
    ev.outcome = 255;
    expect_result(sw_detector_observe(det, &ev), SW_RESULT_INVALID_ARGUMENT,
                  "unknown outcome 255");
    ev = refused(1);
    ev.technique = 12;
    expect_result(sw_detector_observe(det, &ev), SW_RESULT_INVALID_ARGUMENT, "unknown technique 12");
    expect_message(SW_RESULT_INVALID_ARGUMENT, "technique 12", "message names the technique");
    ev = refused(1);
    ev.proto = 200;
    expect_result(sw_detector_observe(det, &ev), SW_RESULT_INVALID_ARGUMENT, "unknown proto 200");
    ev = refused(1);
    ev.family = 5;
    expect_result(sw_detector_observe(det, &ev), SW_RESULT_INVALID_ARGUMENT, "family 5");
    expect_message(SW_RESULT_INVALID_ARGUMENT, "family 5", "message names the family");
    ev.family = 0;
    expect_result(sw_detector_observe(det, &ev), SW_RESULT_INVALID_ARGUMENT,
                  "family 0 (unset)");
    expect_true(events_seen(det) == 0, "bad events change nothing");

    sw_event batch[10];
    for (uint8_t i = 0; i < 10; i++) {
        batch[i] = refused((uint8_t)(i + 1));
    }
    batch[6].family = 44;
    expect_result(sw_detector_observe_batch(det, batch, 10), SW_RESULT_INVALID_ARGUMENT,
                  "batch with one bad event");
    expect_message(SW_RESULT_INVALID_ARGUMENT, "events[6]", "message gives its index");
    expect_true(events_seen(det) == 0 && verdicts == 0, "bad batch leaves the detector unchanged");
    batch[6].family = SW_FAMILY_IPV4;
    expect_result(sw_detector_observe_batch(det, batch, 10), SW_RESULT_OK, "same batch, fixed");
    expect_true(events_seen(det) == 10 && verdicts == 1, "fixed batch fed and decided");
    sw_detector_free(det);
}

static void bad_config(void) {
    char err[256];
    char tiny[8];
    sw_config *cfg = NULL;

    expect_result(sw_config_from_toml("home_networks = [\"10.0.0.0/8\"\nmin_targets = = 3", &cfg,
                                      err, sizeof err),
                  SW_RESULT_INVALID_CONFIG, "unparsable TOML");
    expect_true(cfg == NULL, "from_toml leaves *out unchanged");
    expect_true(strstr(err, "invalid configuration") != NULL && strstr(err, "line 2") != NULL,
                "TOML message says where");
    printf("# %s\n", err);
    expect_result(sw_config_from_toml("thetaX = 0.5", &cfg, err, sizeof err),
                  SW_RESULT_INVALID_CONFIG, "unknown key");
    expect_true(strstr(err, "thetaX") != NULL, "message names the unknown key");
    /* A misspelt key in an allow rule would otherwise allow every port. */
    expect_result(sw_config_from_toml("allow = [{ net = \"192.0.2.0/24\", port = [161] }]", &cfg,
                                      err, sizeof err),
                  SW_RESULT_INVALID_CONFIG, "allow rule with an unknown key");
    expect_true(strstr(err, "allow: unknown field `port`, expected `net` or `ports`") != NULL,
                "message names the rule's unknown key and the valid ones");
    printf("# %s\n", err);
    expect_result(sw_config_from_toml("min_targets = \"5\"", &cfg, err, sizeof err),
                  SW_RESULT_INVALID_CONFIG, "min_targets as a string");
    expect_true(strstr(err, "min_targets: invalid type: string \"5\"") != NULL,
                "message names the key of the wrong type");
    expect_result(sw_config_from_toml("min_targets = 1", &cfg, err, sizeof err),
                  SW_RESULT_INVALID_CONFIG, "min_targets out of range");
    expect_true(strstr(err, "min_targets") != NULL, "message names min_targets");
    expect_message(SW_RESULT_INVALID_CONFIG, "min_targets", "sw_result_message has the detail");
    expect_result(sw_config_from_toml("shards = 0", &cfg, tiny, sizeof tiny),
                  SW_RESULT_INVALID_CONFIG, "tiny error buffer");
    expect_true(strlen(tiny) == sizeof tiny - 1, "message cut to fit and NUL-terminated");
    expect_result(sw_config_from_toml("shards = 0", &cfg, NULL, 0), SW_RESULT_INVALID_CONFIG,
                  "no error buffer");
    expect_result(sw_config_from_toml("home_networks = [\"\xff\"]", &cfg, err, sizeof err),
                  SW_RESULT_INVALID_ARGUMENT, "TOML not UTF-8");

    cfg = sw_config_new();
    expect_result(sw_config_add_home_net(cfg, "10.0.0.0/33"), SW_RESULT_INVALID_CONFIG,
                  "home net prefix /33");
    expect_message(SW_RESULT_INVALID_CONFIG, "home_networks", "message names home_networks");
    expect_result(sw_config_add_allow(cfg, "not-an-address", NULL, 0), SW_RESULT_INVALID_CONFIG,
                  "allow entry malformed");
    expect_result(sw_config_add_home_net(cfg, "\xc3\x28"), SW_RESULT_INVALID_ARGUMENT,
                  "CIDR not UTF-8");
    expect_result(sw_config_set_shards(cfg, 0), SW_RESULT_OK, "setters store without checking");
    expect_result(sw_config_validate(cfg), SW_RESULT_INVALID_CONFIG, "validate finds shards 0");
    expect_message(SW_RESULT_INVALID_CONFIG, "shards", "message names shards");
    sw_detector *det = NULL;
    unsigned verdicts = 0;
    expect_result(sw_detector_new(cfg, count_verdict, &verdicts, &det), SW_RESULT_INVALID_CONFIG,
                  "detector_new with shards 0");
    expect_true(det == NULL, "no detector on a bad config");
    sw_config_free(cfg);
}

static void reentrant_callback(void) {
    struct reentry r;
    memset(&r, 0, sizeof r);
    r.det = new_detector(reenter, &r);
    for (uint8_t host = 1; host <= 10; host++) {
        sw_event ev = refused(host);
        if (sw_detector_observe(r.det, &ev) != SW_RESULT_OK) {
            break;
        }
    }
    expect_true(r.calls == 1, "callback ran once");
    expect_result(r.observe, SW_RESULT_REENTRANT, "observe from the callback");
    expect_result(r.batch, SW_RESULT_REENTRANT, "observe_batch from the callback");
    expect_result(r.advance, SW_RESULT_REENTRANT, "advance from the callback");
    expect_result(r.stats, SW_RESULT_REENTRANT, "stats from the callback");
    expect_true(events_seen(r.det) == 10, "reentrant calls changed nothing; free was refused");
    sw_detector_free(r.det);
}

/* What the nesting callback got from a detector it created, fed and freed. */
struct nesting {
    sw_detector *outer;
    sw_result created, fed, stats, outer_stats;
    unsigned inner_verdicts;
};

static void nest(void *user_data, const sw_verdict *v) {
    struct nesting *n = user_data;
    sw_detector *inner = NULL;
    sw_stats st;
    (void)v;
    inner = new_detector(count_verdict, &n->inner_verdicts);
    n->created = inner != NULL ? SW_RESULT_OK : SW_RESULT_PANIC;
    for (uint8_t host = 1; host <= 10; host++) {
        sw_event ev = refused(host);
        n->fed = sw_detector_observe(inner, &ev);
    }
    n->stats = sw_detector_stats(inner, &st);
    n->outer_stats = sw_detector_stats(n->outer, &st);
    sw_detector_free(inner); /* frees: only the delivering detector is busy */
}

static void nested_detector(void) {
    struct nesting n;
    memset(&n, 0, sizeof n);
    n.outer = new_detector(nest, &n);
    for (uint8_t host = 1; host <= 10; host++) {
        sw_event ev = refused(host);
        sw_detector_observe(n.outer, &ev);
    }
    expect_result(n.created, SW_RESULT_OK, "a callback creates another detector");
    expect_result(n.fed, SW_RESULT_OK, "a callback feeds another detector");
    expect_result(n.stats, SW_RESULT_OK, "a callback reads another detector's stats");
    expect_true(n.inner_verdicts == 1, "the other detector delivers its verdict");
    expect_result(n.outer_stats, SW_RESULT_REENTRANT, "the delivering detector refuses");
    sw_detector_free(n.outer);
}

static void no_memory(void) {
    sw_config *cfg = sw_config_new();
    sw_detector *det = NULL;
    unsigned verdicts = 0;
    /* 1 TiB: valid, but more than the machine has: an error, not an abort. */
    expect_result(sw_config_set_memory_bytes(cfg, (uint64_t)1 << 40), SW_RESULT_OK,
                  "1 TiB is a valid memory_bytes");
    expect_result(sw_detector_new(cfg, count_verdict, &verdicts, &det), SW_RESULT_NO_MEMORY,
                  "detector_new(1 TiB)");
    expect_true(det == NULL, "detector_new leaves *out unchanged when out of memory");
    expect_message(SW_RESULT_NO_MEMORY, "memory_bytes", "message names memory_bytes");
    sw_config_free(cfg);
}

static void messages(void) {
    char buf[64];
    size_t n = 0;
    expect_result(sw_result_message(999, buf, sizeof buf, &n), SW_RESULT_OK, "unknown result");
    expect_true(strcmp(buf, "unknown result 999") == 0 && n == strlen(buf), "names the number");
    expect_result(sw_result_message(SW_RESULT_OK, NULL, 10, &n), SW_RESULT_NULL_PARAMETER,
                  "message into NULL buffer");
    expect_result(sw_result_message(SW_RESULT_OK, NULL, 0, &n), SW_RESULT_OK,
                  "message into no buffer");
    expect_true(n == 0, "nothing written");

    char version[32];
    snprintf(version, sizeof version, "%d.%d.%d", SW_VERSION_MAJOR, SW_VERSION_MINOR,
             SW_VERSION_PATCH);
    expect_true(strcmp(sw_version(), version) == 0, "sw_version() matches the header macros");
}

int main(void) {
    null_handles();
    bad_events();
    bad_config();
    reentrant_callback();
    nested_detector();
    no_memory();
    messages();
    return checks_done();
}
