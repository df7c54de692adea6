package policy

import (
	"path"
	"strings"
)

// pattern is a glob (path.Match syntax) or an exact string. A lone "*"
// matches every string, "/" included, so that the default tools: ["*"] also
// covers resource URIs.
type pattern struct {
	s      string
	glob   bool
	any    bool
	prefix string // set for "prefix*" globs, matched without path.Match
}

func newPattern(s string) (pattern, error) {
	if s == "*" {
		return pattern{s: s, glob: true, any: true}, nil
	}
	if !strings.ContainsAny(s, `*?[\`) {
		return pattern{s: s}, nil
	}
	if _, err := path.Match(s, ""); err != nil {
		return pattern{}, err
	}
	p := pattern{s: s, glob: true}
	if pre, ok := strings.CutSuffix(s, "*"); ok && !strings.ContainsAny(pre, `*?[\`) {
		p.prefix = pre
	}
	return p, nil
}

func (p pattern) match(s string) bool {
	switch {
	case p.any:
		return true
	case !p.glob:
		return p.s == s
	case p.prefix != "":
		// As path.Match: the star does not cross a "/".
		return strings.HasPrefix(s, p.prefix) && !strings.Contains(s[len(p.prefix):], "/")
	}
	ok, _ := path.Match(p.s, s) // validated at load
	return ok
}

func matchAny(ps []pattern, s string) bool {
	for _, p := range ps {
		if p.match(s) {
			return true
		}
	}
	return false
}

// index finds the rules that can match a (server, name) pair without
// scanning every rule. A rule sits in exactly one list for any pair: under
// its exact server or among the glob servers, and under each of its exact
// names or, if any of its names is a glob, among the glob names.
type index struct {
	servers     map[string]*nameIndex
	globServers nameIndex
}

type nameIndex struct {
	exact map[string][]int32
	glob  []int32
}

func (x *nameIndex) add(r *rule) {
	for _, n := range r.names {
		if n.glob {
			x.glob = append(x.glob, r.index)
			return
		}
	}
	if x.exact == nil {
		x.exact = make(map[string][]int32)
	}
	for _, n := range r.names {
		l := x.exact[n.s]
		if len(l) > 0 && l[len(l)-1] == r.index {
			continue // the same name listed twice
		}
		x.exact[n.s] = append(l, r.index)
	}
}

func (x *index) add(r *rule) {
	if r.server.glob {
		x.globServers.add(r)
		return
	}
	if x.servers == nil {
		x.servers = make(map[string]*nameIndex)
	}
	ni := x.servers[r.server.s]
	if ni == nil {
		ni = &nameIndex{}
		x.servers[r.server.s] = ni
	}
	ni.add(r)
}

// candidates appends to dst, in file order, the indexes of the rules whose
// server and name patterns match.
func (p *Policy) candidates(server, name string, dst []int32) []int32 {
	var lists [4][]int32
	if ni := p.index.servers[server]; ni != nil {
		lists[0] = ni.exact[name]
		lists[1] = ni.glob
	}
	lists[2] = p.index.globServers.exact[name]
	lists[3] = p.index.globServers.glob
	for {
		best := -1
		for i := range lists {
			if len(lists[i]) > 0 && (best < 0 || lists[i][0] < lists[best][0]) {
				best = i
			}
		}
		if best < 0 {
			return dst
		}
		ri := lists[best][0]
		lists[best] = lists[best][1:]
		r := p.rules[ri]
		if (best == 0 || r.server.match(server)) && (best == 0 || best == 2 || matchAny(r.names, name)) {
			dst = append(dst, ri)
		}
	}
}
