package egress

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestCheckDefault(t *testing.T) {
	refused := []string{
		// IPv4
		"127.0.0.1", "127.255.255.254", "10.1.2.3", "172.16.0.1", "172.31.255.255",
		"192.168.1.1", "169.254.169.254", "169.254.0.1", "100.64.0.1", "100.127.255.255",
		"0.0.0.0", "0.1.2.3", "255.255.255.255", "224.0.0.1", "239.255.255.250",
		"240.0.0.1", "192.0.2.1", "198.51.100.1", "203.0.113.5", "198.18.0.1",
		"192.0.0.170", "192.88.99.1",
		// IPv6
		"::", "::1", "fe80::1", "fe80::1%eth0", "fc00::1", "fd12:3456::1", "ff02::1",
		"fec0::1", "100::1", "::127.0.0.1", "2001:db8::1", "3fff::1", "2001::1",
		// IPv4-mapped, NAT64 and 6to4 forms of refused IPv4
		"::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "::ffff:0.0.0.0",
		"64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::192.168.0.1", "64:ff9b:1::1",
		"2002:7f00:1::1", "2002:a00:1::",
	}
	allowed := []string{
		"8.8.8.8", "1.1.1.1", "172.32.0.1", "172.15.255.255", "100.128.0.1", "100.63.255.255",
		"169.255.0.1", "192.169.0.1", "223.255.255.255", "11.0.0.1",
		"::ffff:8.8.8.8", "2606:4700:4700::1111", "2a00:1450:4001::1", "2001:4860:4860::8888",
		"64:ff9b::808:808", "2002:808:808::1",
	}
	var p Policy
	for _, s := range refused {
		err := p.Check(netip.MustParseAddr(s))
		var fe *ForbiddenAddressError
		if !errors.Is(err, ErrForbiddenAddress) || !errors.As(err, &fe) || fe.Reason == "" {
			t.Errorf("Check(%s) = %v, want refusal", s, err)
		}
	}
	for _, s := range allowed {
		if err := p.Check(netip.MustParseAddr(s)); err != nil {
			t.Errorf("Check(%s) = %v, want allowed", s, err)
		}
	}
}

func TestCheckWithAllowList(t *testing.T) {
	allow, err := ParseAllowList("127.0.0.0/8, ::1, 10.0.0.0/8, fd00::/8, ::ffff:192.168.7.0/120")
	if err != nil {
		t.Fatal(err)
	}
	p := Policy{Allow: allow}
	for _, tt := range []struct {
		addr    string
		allowed bool
	}{
		{"127.0.0.1", true},
		{"127.1.2.3", true},
		{"::ffff:127.0.0.1", true},
		{"::1", true},
		{"10.2.3.4", true},
		{"fd00::5", true},
		{"192.168.7.9", true},
		{"8.8.8.8", true},
		{"169.254.169.254", false},
		{"192.168.1.1", false},
		{"fc00::1", false},
		{"64:ff9b::7f00:1", false}, // a NAT64 address is not the loopback it embeds
	} {
		err := p.Check(netip.MustParseAddr(tt.addr))
		if (err == nil) != tt.allowed {
			t.Errorf("Check(%s) = %v, want allowed=%v", tt.addr, err, tt.allowed)
		}
	}
	// A mapped prefix set directly, bypassing ParseAllowList, still matches.
	direct := Policy{Allow: []netip.Prefix{netip.MustParsePrefix("::ffff:127.0.0.0/104")}}
	if err := direct.Check(netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Errorf("mapped allow prefix: %v", err)
	}
}

func TestForbiddenAddressErrorText(t *testing.T) {
	err := Policy{}.Check(netip.MustParseAddr("::ffff:169.254.169.254"))
	for _, want := range []string{"169.254.169.254", "link-local", AllowEnv, "169.254.169.254/32"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if err := (Policy{}).Check(netip.Addr{}); !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("zero Addr: %v", err)
	}
}

func TestParseAllowList(t *testing.T) {
	tests := []struct {
		in      string
		want    string // prefixes joined by ","
		wantErr string // substring, names the bad entry
	}{
		{in: "", want: ""},
		{in: " , ", want: ""},
		{in: "127.0.0.0/8, ::1", want: "127.0.0.0/8,::1/128"},
		{in: "10.1.2.3/8,192.168.0.1", want: "10.0.0.0/8,192.168.0.1/32"},
		{in: "::ffff:127.0.0.1", want: "127.0.0.1/32"},
		{in: "::ffff:10.0.0.0/104,", want: "10.0.0.0/8"},
		{in: "fd00::1/8", want: "fd00::/8"},
		{in: "127.0.0.0/8, localhost", wantErr: `"localhost"`},
		{in: "10.0.0.0/33", wantErr: `"10.0.0.0/33"`},
		{in: "fe80::1%eth0", wantErr: `"fe80::1%eth0"`},
		{in: "1.2.3", wantErr: `"1.2.3"`},
		{in: "127.0.0.0 /8", wantErr: `"127.0.0.0 /8"`},
	}
	for _, tt := range tests {
		got, err := ParseAllowList(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), AllowEnv) {
				t.Errorf("ParseAllowList(%q) err = %v, want one naming %s", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseAllowList(%q): %v", tt.in, err)
			continue
		}
		if s := joinPrefixes(got); s != tt.want {
			t.Errorf("ParseAllowList(%q) = %s, want %s", tt.in, s, tt.want)
		}
	}
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func FuzzParseAllowList(f *testing.F) {
	for _, s := range []string{"", "127.0.0.0/8, ::1", "::ffff:10.0.0.0/104", "fe80::1%eth0", "1.2.3.4/33,,", "0.0.0.0/0", "::/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseAllowList(s)
		if err != nil {
			return
		}
		for _, p := range got {
			if !p.IsValid() || p != p.Masked() || (p.Addr().Is4In6() && p.Bits() >= 96) || p.Addr().Zone() != "" {
				t.Fatalf("ParseAllowList(%q) returned unnormalized prefix %s", s, p)
			}
		}
		again, err := ParseAllowList(joinPrefixes(got))
		if err != nil || joinPrefixes(again) != joinPrefixes(got) {
			t.Fatalf("round trip of %q: %v, %v vs %v", s, err, again, got)
		}
		// Policy.Check must never panic on anything the list allows.
		p := Policy{Allow: got}
		for _, pfx := range got {
			_ = p.Check(pfx.Addr())
		}
	})
}
