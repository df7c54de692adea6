package proxy

import (
	"io"
	"strings"
	"testing"
)

func hideDelete(name string) bool { return !strings.HasPrefix(name, "delete_") }

func TestFilterToolsJSON(t *testing.T) {
	in := `{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"get_issue","inputSchema":{"type":"object"}},{"name":"delete_repo"}],"nextCursor":"c2","_meta":{"x":1}}}`
	got := string(filterToolsJSON([]byte(in), hideDelete))
	for _, want := range []string{`"get_issue"`, `"nextCursor":"c2"`, `"_meta":{"x":1}`, `"id":3`} {
		if !strings.Contains(got, want) {
			t.Errorf("%s lost %s", got, want)
		}
	}
	if strings.Contains(got, "delete_repo") {
		t.Errorf("denied tool still listed: %s", got)
	}
	unchanged := `{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"get_issue"}]}}`
	if got := string(filterToolsJSON([]byte(unchanged), hideDelete)); got != unchanged {
		t.Errorf("a list with nothing to hide must pass byte for byte: %s", got)
	}
	for _, other := range []string{`{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"x"}}`, `not json`, `{"result":{"tools":"x"}}`} {
		if got := string(filterToolsJSON([]byte(other), hideDelete)); got != other {
			t.Errorf("%s changed to %s", other, got)
		}
	}
}

func TestSSEFilter(t *testing.T) {
	stream := "id: 1\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n" +
		"id: 2\r\nevent: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"tools\":[{\"name\":\"a\"},{\"name\":\"delete_b\"}]}}\r\n\r\n" +
		": comment\nretry: 1000\n\n"
	f := newSSEFilter(strings.NewReader(stream), hideDelete)
	var out strings.Builder
	for {
		b, err := f.next()
		out.Write(b)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	got := out.String()
	if strings.Contains(got, "delete_b") || !strings.Contains(got, `{"name":"a"}`) {
		t.Fatalf("filtered stream: %q", got)
	}
	for _, keep := range []string{"id: 1\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n", "id: 2\r\n", ": comment\nretry: 1000\n\n"} {
		if !strings.Contains(got, keep) {
			t.Errorf("stream lost %q:\n%q", keep, got)
		}
	}
}

func FuzzSSEFilter(f *testing.F) {
	f.Add("data: {\"result\":{\"tools\":[{\"name\":\"delete_x\"}]}}\n\n")
	f.Add("data: a\ndata: b\n\n\n\nevent: x")
	f.Fuzz(func(t *testing.T, s string) {
		fl := newSSEFilter(strings.NewReader(s), hideDelete)
		total := 0
		for range 10000 {
			b, err := fl.next()
			total += len(b)
			if err != nil {
				break
			}
		}
		if !strings.Contains(s, "tools") && total != len(s) {
			t.Fatalf("a stream without tools must pass unchanged: %d of %d bytes", total, len(s))
		}
	})
}
