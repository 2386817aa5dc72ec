/* Reading line- and blank-separated text files (dnsmasq's lease file,
 * /proc/net/arp) without copying them or trusting them to be
 * NUL-terminated.  Pure functions shared by net/leases.c and net/arp.c. */
#ifndef TART_NET_FIELDS_H
#define TART_NET_FIELDS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include "vmconfig/mac.h"

/* The content of the line starting at `line`, without its "\n" or "\r\n";
 * *next is where the following line starts (end after the last one). */
const char *fields_line_end(const char *line, const char *end, const char **next);

/* Split [p, end) into blank-separated fields, storing at most max of them.
 * Returns the number of fields, or max + 1 as soon as there are more, so
 * that a line of a million fields costs no more than reading it once. */
size_t fields_split(const char *p, const char *end, const char **f, size_t *flen, size_t max);

/* A field (not NUL-terminated, no NUL inside: the caller rules those out)
 * as a MAC (mac_parse's forms) or as a dotted IPv4 address (inet_pton:
 * exactly four decimal parts, no leading zeros).  A field longer than the
 * longest valid form is rejected without being copied. */
bool fields_mac(const char *s, size_t n, struct mac_addr *out);
bool fields_ipv4(const char *s, size_t n, struct in_addr *out);

#endif
