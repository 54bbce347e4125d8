/*
 * Naming enum values and checking the library's version from C, as a program
 * that prints verdicts would: every value of each enum has the JSON
 * contract's name, a byte outside the enum has none (NULL), and the version
 * check the header documents accepts this library. Prints one line per
 * check and exits with the number of failures.
 */
#include <stdio.h>
#include <string.h>

#include <sweepwatch.h>

#include "check.h"

static void expect_name(const char *got, const char *want, const char *what) {
    checks++;
    int same = (got == NULL || want == NULL) ? got == want : strcmp(got, want) == 0;
    if (same) {
        printf("ok - %s\n", what);
    } else {
        printf("FAIL - %s: got %s, expected %s\n", what, got ? got : "NULL",
               want ? want : "NULL");
        failures++;
    }
}

int main(void) {
    expect_true(sw_version_number() / 100 == SW_VERSION_NUMBER / 100,
                "the documented version check accepts this library");
    expect_true(SW_VERSION_NUMBER ==
                    SW_VERSION_MAJOR * 10000 + SW_VERSION_MINOR * 100 + SW_VERSION_PATCH,
                "SW_VERSION_NUMBER is made of the three macros");
    char text[32];
    snprintf(text, sizeof text, "%u.%u.%u", sw_version_number() / 10000,
             sw_version_number() / 100 % 100, sw_version_number() % 100);
    expect_name(sw_version(), text, "sw_version_number() spells sw_version()");

    expect_name(sw_kind_name(SW_KIND_PORT_SWEEP), "port_sweep", "kind port sweep");
    expect_name(sw_kind_name(SW_KIND_PORT_SCAN), "port_scan", "kind port scan");
    expect_name(sw_kind_name(SW_KIND_OUTBOUND_SWEEP), "outbound_sweep", "kind outbound sweep");
    expect_name(sw_kind_name(SW_KIND_ICMP_SWEEP), "icmp_sweep", "kind icmp sweep");
    expect_name(sw_kind_name(4), NULL, "no kind 4");
    expect_name(sw_kind_name(255), NULL, "no kind 255");

    expect_name(sw_direction_name(SW_DIRECTION_OUTBOUND), "outbound", "direction outbound");
    expect_name(sw_direction_name(SW_DIRECTION_INBOUND), "inbound", "direction inbound");
    expect_name(sw_direction_name(SW_DIRECTION_INTERNAL), "internal", "direction internal");
    expect_name(sw_direction_name(SW_DIRECTION_EXTERNAL), "external", "direction external");
    expect_name(sw_direction_name(4), NULL, "no direction 4");

    expect_name(sw_protocol_name(SW_PROTOCOL_TCP), "tcp", "protocol tcp");
    expect_name(sw_protocol_name(SW_PROTOCOL_UDP), "udp", "protocol udp");
    expect_name(sw_protocol_name(SW_PROTOCOL_ICMP), "icmp", "protocol icmp");
    expect_name(sw_protocol_name(SW_PROTOCOL_OTHER), "other", "protocol other");
    expect_name(sw_protocol_name(4), NULL, "no protocol 4");

    expect_name(sw_outcome_name(SW_OUTCOME_ATTEMPT), "attempt", "outcome attempt");
    expect_name(sw_outcome_name(SW_OUTCOME_ESTABLISHED), "established", "outcome established");
    expect_name(sw_outcome_name(SW_OUTCOME_REFUSED), "refused", "outcome refused");
    expect_name(sw_outcome_name(SW_OUTCOME_UNANSWERED), "unanswered", "outcome unanswered");
    expect_name(sw_outcome_name(SW_OUTCOME_UNSOLICITED), "unsolicited", "outcome unsolicited");
    expect_name(sw_outcome_name(5), NULL, "no outcome 5");

    expect_name(sw_technique_name(SW_TECHNIQUE_DEFAULT), "default", "technique default");
    expect_name(sw_technique_name(SW_TECHNIQUE_SYN), "syn", "technique syn");
    expect_name(sw_technique_name(SW_TECHNIQUE_TCP_OTHER), "tcp_other", "technique tcp_other");
    expect_name(sw_technique_name(SW_TECHNIQUE_ICMP_ECHO), "icmp_echo", "technique icmp_echo");
    expect_name(sw_technique_name(SW_TECHNIQUE_IP_PROTOCOL), "ip_protocol", "technique ip_protocol");
    expect_name(sw_technique_name(200), NULL, "no technique 200");

    return checks_done();
}
