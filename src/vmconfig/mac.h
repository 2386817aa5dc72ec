/* MAC addresses as stored in config.json ("xx:xx:xx:xx:xx:xx").
 * Pure functions. */
#ifndef TART_VMCONFIG_MAC_H
#define TART_VMCONFIG_MAC_H

#include <stdbool.h>
#include <stdint.h>

struct mac_addr {
  uint8_t b[6];
};

/* Parse six colon-separated hex components of one or two digits each
 * ("ee:a7:85:9:92:39" is accepted, as bootpd and some tools drop leading
 * zeros).  Upper and lower case are accepted.  Returns 0 or -1. */
int mac_parse(const char *s, struct mac_addr *out);

/* Canonical form: lower-case, two digits each.  out must hold 18 bytes. */
void mac_format(const struct mac_addr *m, char out[18]);

bool mac_equal(const struct mac_addr *a, const struct mac_addr *b);

/* A random locally administered unicast address (bit 1 of the first octet
 * set, bit 0 clear), as Virtualization.framework's randomLocallyAdministered. */
void mac_random(struct mac_addr *out);

bool mac_is_locally_administered_unicast(const struct mac_addr *m);

#endif
