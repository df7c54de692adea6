package httpapi

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// OriginPolicy protects /mcp against browsers on other sites and against DNS
// rebinding: a request carrying an Origin must come from an allowed origin,
// and when the gateway listens on loopback, the Host must name loopback or
// the public host.
type OriginPolicy struct {
	allowed      map[string]bool
	allowLoop    bool
	checkHost    bool
	allowedHosts map[string]bool
}

// NewOriginPolicy builds the policy from the public URL, extra allowed
// origins and the listen address.
func NewOriginPolicy(publicURL string, extra []string, listenAddr string) (*OriginPolicy, error) {
	p := &OriginPolicy{allowed: map[string]bool{}, allowedHosts: map[string]bool{}}
	pu, err := url.Parse(publicURL)
	if err != nil {
		return nil, err
	}
	p.allowed[normOrigin(pu.Scheme, pu.Host)] = true
	p.allowedHosts[strings.ToLower(pu.Hostname())] = true
	for _, o := range extra {
		u, err := url.Parse(o)
		if err != nil {
			return nil, err
		}
		p.allowed[normOrigin(u.Scheme, u.Host)] = true
		p.allowedHosts[strings.ToLower(u.Hostname())] = true
	}
	p.allowLoop = isLoopbackHost(pu.Hostname())
	host, _, _ := net.SplitHostPort(listenAddr)
	p.checkHost = isLoopbackHost(host)
	return p, nil
}

func normOrigin(scheme, host string) string {
	scheme = strings.ToLower(scheme)
	host = strings.ToLower(host)
	if h, port, err := net.SplitHostPort(host); err == nil &&
		(scheme == "http" && port == "80" || scheme == "https" && port == "443") {
		host = h
		if strings.Contains(h, ":") {
			host = "[" + h + "]"
		}
	}
	return scheme + "://" + host
}

func isLoopbackHost(h string) bool {
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

var (
	errOrigin = errors.New("forbidden: requests from this Origin are not allowed")
	errHost   = errors.New("forbidden: unexpected Host header (DNS rebinding protection)")
)

// Check reports whether r may proceed.
func (p *OriginPolicy) Check(r *http.Request) error {
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host == "" {
			return errOrigin
		}
		if !p.allowed[normOrigin(u.Scheme, u.Host)] && !(p.allowLoop && isLoopbackHost(u.Hostname())) {
			return errOrigin
		}
	}
	if p.checkHost {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.Trim(host, "[]")
		if !isLoopbackHost(host) && !p.allowedHosts[strings.ToLower(host)] {
			return errHost
		}
	}
	return nil
}
