package oauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
)

// Connect links let a user start their own authorization from the error an
// agent shows them: PublicURL/oauth/connect?ticket=…, where the ticket names
// the server and user, expires after AuthRequestTTL and is signed with a key
// every gateway process shares (kept sealed in the store).

// ErrBadTicket means a connect link is malformed, forged or expired.
var ErrBadTicket = errors.New("this connect link is invalid or has expired; ask for a new one by calling the tool again")

type ticket struct {
	Server  string `json:"s"`
	User    string `json:"u"`
	Expires int64  `json:"e"`
}

// ConnectLink returns a link that starts the authorization of user at server.
// It is empty when the manager has no link key.
func (m *Manager) ConnectLink(server, user string) string {
	if len(m.cfg.LinkKey) == 0 {
		return ""
	}
	payload, _ := json.Marshal(ticket{Server: server, User: user, Expires: m.now().Add(AuthRequestTTL).Unix()})
	body := base64.RawURLEncoding.EncodeToString(payload)
	return m.cfg.PublicURL + "/oauth/connect?ticket=" + url.QueryEscape(body+"."+m.sign(body))
}

func (m *Manager) sign(body string) string {
	mac := hmac.New(sha256.New, m.cfg.LinkKey)
	mac.Write([]byte("connect-link\x00" + body))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// ParseTicket checks a connect link's ticket and returns whom it is for.
func (m *Manager) ParseTicket(t string) (server, user string, err error) {
	body, sig, ok := strings.Cut(t, ".")
	if !ok || len(m.cfg.LinkKey) == 0 || !hmac.Equal([]byte(sig), []byte(m.sign(body))) {
		return "", "", ErrBadTicket
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return "", "", ErrBadTicket
	}
	var tk ticket
	if json.Unmarshal(raw, &tk) != nil || tk.Server == "" || m.now().Unix() > tk.Expires {
		return "", "", ErrBadTicket
	}
	return tk.Server, tk.User, nil
}
