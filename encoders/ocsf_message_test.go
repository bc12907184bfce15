package encoders

import (
	"strings"
	"testing"
)

func TestOCSFMessage(t *testing.T) {
	long := "/" + strings.Repeat("a", 118) + "é/x" // the cut falls inside é
	for _, c := range []struct {
		hit, want string
	}{
		{`{"time":1,"method":"GET","uri":"/login?u=1","attack_type":"sqli","block_status":"blocked"}`, "SQL Injection blocked: GET /login"},
		{`{"time":1,"method":"POST","domain":"a.example","uri":"/api","attack_type":"xss","block_status":"monitored"}`, "Cross-Site Scripting logged: POST /api"},
		{`{"time":1,"method":"PURGE","uri":"/c","attack_type":"newkind","block_status":"passed"}`, "newkind allowed: PURGE /c"},
		{`{"time":1,"uri":"/x"}`, "Request unknown: /x"},
		{`{"time":1,"method":"GET"}`, "Request unknown: GET"},
		{`{"time":1}`, "Request unknown"},
		{`{"time":1,"method":"GET","uri":"` + long + `","block_status":"blocked"}`, "Request blocked: GET /" + strings.Repeat("a", 118) + "…"},
	} {
		m := &ocsfMapper{}
		ev := m.mapHit(Record{Value: []byte(c.hit), TimeMillis: 1000})
		if ev.Message != c.want {
			t.Errorf("%s: message %q, want %q", c.hit, ev.Message, c.want)
		}
	}
}
