// Package egress is the SSRF-guarded outbound HTTP stack for everything the
// gateway dials: upstream MCP servers and, later, OAuth discovery and
// registration endpoints. Those URLs are attacker-influenced (a registered
// server, a redirect, a metadata document), so by default only public unicast
// addresses may be reached. The check runs at dial time on the address the
// connection is actually made to, after name resolution, so DNS rebinding and
// redirects cannot get around it; an explicit allow list (MCPGATE_EGRESS_ALLOW)
// opens specific private ranges, e.g. loopback for tests or an in-cluster
// server.
package egress

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// AllowEnv names the setting operators change to permit a refused address.
// Its value is parsed by ParseAllowList.
const AllowEnv = "MCPGATE_EGRESS_ALLOW"

// ErrForbiddenAddress is wrapped by every refused dial.
var ErrForbiddenAddress = errors.New("egress: destination address is not allowed")

// Policy decides which IP addresses may be dialed. The zero value allows only
// public unicast addresses.
type Policy struct {
	// Allow lists prefixes that may be dialed even though they are not public
	// unicast, e.g. 127.0.0.0/8 in tests or 10.0.0.0/8 for in-cluster servers.
	Allow []netip.Prefix
}

// ForbiddenAddressError reports a refused destination. It wraps
// ErrForbiddenAddress and its text tells the operator what to change.
type ForbiddenAddressError struct {
	Addr   netip.Addr // the address as dialed, IPv4-mapped forms unmapped
	Reason string     // the range it falls in, e.g. "loopback"
}

func (e *ForbiddenAddressError) Error() string {
	if !e.Addr.IsValid() {
		return "egress: refusing to connect: " + e.Reason
	}
	return fmt.Sprintf("egress: refusing to connect to %s: %s; if this destination is intended, add it to %s (comma-separated CIDRs), e.g. %s",
		e.Addr, e.Reason, AllowEnv, netip.PrefixFrom(e.Addr, e.Addr.BitLen()))
}

func (e *ForbiddenAddressError) Unwrap() error { return ErrForbiddenAddress }

// Check returns nil if addr may be dialed, else a *ForbiddenAddressError.
// IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry, and
// zones are ignored.
func (p Policy) Check(addr netip.Addr) error {
	a := addr.WithZone("").Unmap()
	if !a.IsValid() {
		return &ForbiddenAddressError{Addr: a, Reason: "invalid address"}
	}
	for _, pfx := range p.Allow {
		if normalizePrefix(pfx).Contains(a) {
			return nil
		}
	}
	if reason := refusedReason(a); reason != "" {
		return &ForbiddenAddressError{Addr: a, Reason: reason}
	}
	return nil
}

type namedPrefix struct {
	prefix netip.Prefix
	reason string
}

// refusedV4 is checked in order; the first match names the reason.
// Sources: RFC 6890 and the IANA special-purpose address registry.
var refusedV4 = []namedPrefix{
	{netip.MustParsePrefix("0.0.0.0/32"), "unspecified address"},
	{netip.MustParsePrefix("0.0.0.0/8"), "\"this network\" range"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT range"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback address"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local address (includes cloud metadata services)"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignment range"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation range"},
	{netip.MustParsePrefix("192.88.99.0/24"), "deprecated 6to4 relay range"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking range"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation range"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation range"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast address"},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved range"},
}

// IPv6 is judged the other way round: only global unicast (2000::/3) can be
// public, so everything outside it is refused (refusedOutside6 only names
// the reason), and a few ranges inside it are refused too.
var (
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
	nat64          = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052: v4 in the last 32 bits
	sixToFour      = netip.MustParsePrefix("2002::/16")    // RFC 3056: v4 in bits 16..47

	refusedOutside6 = []namedPrefix{
		{netip.MustParsePrefix("::/128"), "unspecified address"},
		{netip.MustParsePrefix("::1/128"), "loopback address"},
		{netip.MustParsePrefix("fe80::/10"), "link-local address"},
		{netip.MustParsePrefix("fc00::/7"), "private (unique local) address"},
		{netip.MustParsePrefix("ff00::/8"), "multicast address"},
		{netip.MustParsePrefix("fec0::/10"), "deprecated site-local address"},
		{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64 range"},
	}
	refusedInside6 = []namedPrefix{
		{netip.MustParsePrefix("2001:db8::/32"), "documentation range"},
		{netip.MustParsePrefix("3fff::/20"), "documentation range"},
		{netip.MustParsePrefix("2001::/23"), "IETF protocol assignment range (Teredo, ORCHID, benchmarking)"},
	}
)

// refusedReason returns why a (unmapped, zone-less) address is refused by
// default, or "" if it is public unicast.
func refusedReason(a netip.Addr) string {
	if a.Is4() {
		return lookup(refusedV4, a)
	}
	b := a.As16()
	switch {
	case nat64.Contains(a):
		// The translator would connect to the embedded IPv4 address.
		if r := lookup(refusedV4, netip.AddrFrom4([4]byte(b[12:16]))); r != "" {
			return "NAT64 form of a " + r
		}
		return ""
	case sixToFour.Contains(a):
		if r := lookup(refusedV4, netip.AddrFrom4([4]byte(b[2:6]))); r != "" {
			return "6to4 form of a " + r
		}
		return ""
	case !globalUnicast6.Contains(a):
		if r := lookup(refusedOutside6, a); r != "" {
			return r
		}
		return "reserved range (not IPv6 global unicast)"
	}
	return lookup(refusedInside6, a)
}

func lookup(table []namedPrefix, a netip.Addr) string {
	for _, np := range table {
		if np.prefix.Contains(a) {
			return np.reason
		}
	}
	return ""
}

// ParseAllowList parses a comma-separated list of CIDR prefixes and bare IP
// addresses ("127.0.0.0/8, ::1"), the format of MCPGATE_EGRESS_ALLOW. Empty
// entries are skipped, host bits are masked off, and IPv4-mapped IPv6 entries
// become IPv4 ones, matching how Check judges addresses. The error names the
// first bad entry.
func ParseAllowList(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		pfx, err := parseAllowEntry(entry)
		if err != nil {
			return nil, fmt.Errorf("egress: %s entry %q: %w", AllowEnv, entry, err)
		}
		out = append(out, pfx)
	}
	return out, nil
}

func parseAllowEntry(entry string) (netip.Prefix, error) {
	if strings.Contains(entry, "%") {
		return netip.Prefix{}, errors.New("IPv6 zones are not supported")
	}
	if strings.Contains(entry, "/") {
		pfx, err := netip.ParsePrefix(entry)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("not a CIDR prefix: %w", err)
		}
		return normalizePrefix(pfx), nil
	}
	addr, err := netip.ParseAddr(entry)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("not an IP address or CIDR prefix: %w", err)
	}
	return normalizePrefix(netip.PrefixFrom(addr, addr.BitLen())), nil
}

// normalizePrefix masks host bits and turns ::ffff:a.b.c.d/n (n >= 96) into
// a.b.c.d/(n-96), since Check unmaps addresses before matching.
func normalizePrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked()
}
