package proxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
)

// The gateway owns one rewrite: tools/list results are filtered by policy so
// a client never sees a tool it could not call. Everything else in the
// message (other result fields, _meta, unknown members) is kept as sent.

// filterToolsJSON filters the tools of a JSON-RPC response body. It returns
// the body unchanged when it is not a tools/list result.
func filterToolsJSON(body []byte, visible func(string) bool) []byte {
	var msg map[string]json.RawMessage
	if err := json.Unmarshal(body, &msg); err != nil {
		return body
	}
	result, ok := msg["result"]
	if !ok {
		return body
	}
	var res map[string]json.RawMessage
	if err := json.Unmarshal(result, &res); err != nil {
		return body
	}
	rawTools, ok := res["tools"]
	if !ok {
		return body
	}
	var tools []json.RawMessage
	if err := json.Unmarshal(rawTools, &tools); err != nil {
		return body
	}
	kept := tools[:0]
	for _, t := range tools {
		var named struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(t, &named) == nil && visible(named.Name) {
			kept = append(kept, t)
		}
	}
	if len(kept) == len(tools) {
		return body
	}
	if res["tools"], _ = json.Marshal(kept); res["tools"] == nil {
		return body
	}
	var err error
	if msg["result"], err = json.Marshal(res); err != nil {
		return body
	}
	out, err := json.Marshal(msg)
	if err != nil {
		return body
	}
	return out
}

// sseFilter relays an event stream, rewriting the data of events that carry
// a tools/list result and passing every other line through byte for byte.
type sseFilter struct {
	visible func(string) bool
	r       *bufio.Reader
	event   [][]byte // lines of the current event, kept until its blank line
	out     bytes.Buffer
}

func newSSEFilter(r io.Reader, visible func(string) bool) *sseFilter {
	return &sseFilter{visible: visible, r: bufio.NewReaderSize(r, 32<<10)}
}

// next returns the bytes of the next complete event (or the remaining bytes
// at the end of the stream), ready to be written and flushed.
func (f *sseFilter) next() ([]byte, error) {
	f.out.Reset()
	for {
		line, err := f.r.ReadBytes('\n')
		if len(line) > 0 {
			f.event = append(f.event, line)
			if isBlankLine(line) {
				f.flushEvent()
				return f.out.Bytes(), nil
			}
		}
		if err != nil {
			f.flushEvent()
			return f.out.Bytes(), err
		}
	}
}

func isBlankLine(l []byte) bool { return len(bytes.TrimRight(l, "\r\n")) == 0 }

// flushEvent writes the buffered event, rewritten if it is a tools/list result.
func (f *sseFilter) flushEvent() {
	defer func() { f.event = f.event[:0] }()
	var data []byte
	dataLines := 0
	for _, l := range f.event {
		if v, ok := bytes.CutPrefix(l, []byte("data:")); ok {
			v = bytes.TrimPrefix(v, []byte(" "))
			if dataLines > 0 {
				data = append(data, '\n')
			}
			data = append(data, bytes.TrimRight(v, "\r\n")...)
			dataLines++
		}
	}
	if dataLines > 0 && bytes.Contains(data, []byte(`"tools"`)) {
		if filtered := filterToolsJSON(data, f.visible); !bytes.Equal(filtered, data) {
			wroteData := false
			for _, l := range f.event {
				if bytes.HasPrefix(l, []byte("data:")) {
					if !wroteData {
						f.out.WriteString("data: ")
						f.out.Write(filtered)
						f.out.WriteByte('\n')
						wroteData = true
					}
					continue
				}
				f.out.Write(l)
			}
			return
		}
	}
	for _, l := range f.event {
		f.out.Write(l)
	}
}
