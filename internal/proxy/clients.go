package proxy

import (
	"encoding/json"
	"sync"

	"github.com/mcpgate/mcpgate/internal/policy"
)

// clientNames remembers the clientInfo.name each session announced in its
// initialize, for the audit log. It lives in memory only: a name is a
// convenience, not a fact anything depends on.
type clientNames struct {
	mu    sync.RWMutex
	names map[string]string // session id hash → client name
}

func (c *clientNames) set(sidHash, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.names == nil || len(c.names) > 100_000 {
		c.names = map[string]string{}
	}
	c.names[sidHash] = name
}

func (c *clientNames) get(sidHash string) string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.names[sidHash]
}

func (p *Proxy) rememberClient(sidHash string, initBody []byte) {
	var m struct {
		Params struct {
			ClientInfo struct {
				Name string `json:"name"`
			} `json:"clientInfo"`
		} `json:"params"`
	}
	if json.Unmarshal(initBody, &m) == nil && m.Params.ClientInfo.Name != "" {
		name := m.Params.ClientInfo.Name
		if len(name) > 100 {
			name = name[:100]
		}
		p.clients.set(sidHash, name)
	}
}

func (p *Proxy) clientName(sidHash string) string { return p.clients.get(sidHash) }

func (p *Proxy) currentPolicy() *policy.Policy {
	if p.policy == nil {
		return nil
	}
	return p.policy.Current()
}
