/*
 * The checks the C tests share: each prints "ok - WHAT" or "FAIL - WHAT"
 * and is counted; a test ends with checks_done(), which prints
 * "N checks, F failed" (what scripts/c-tests.sh looks for) and returns the
 * exit status. Included by one file per program: the counters are static.
 */
#ifndef SWEEPWATCH_TEST_CHECK_H
#define SWEEPWATCH_TEST_CHECK_H

#include <stdio.h>

#include <sweepwatch.h>

static unsigned checks = 0;
static unsigned failures = 0;

static inline void expect_true(int cond, const char *what) {
    checks++;
    if (cond) {
        printf("ok - %s\n", what);
    } else {
        printf("FAIL - %s\n", what);
        failures++;
    }
}

static inline void expect_result(sw_result got, sw_result want, const char *what) {
    checks++;
    if (got == want) {
        printf("ok - %s\n", what);
    } else {
        printf("FAIL - %s: got %u, expected %u\n", what, (unsigned)got, (unsigned)want);
        failures++;
    }
}

/* Prints the count of checks and failures; the exit status: 0 if none failed. */
static inline int checks_done(void) {
    printf("%u checks, %u failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}

#endif
