package encoders

import (
	"strings"
	"unicode/utf8"
)

// ocsfMessageMaxPath bounds the path quoted in message (attack paths can be
// long; the whole URL is in http_request.url).
const ocsfMessageMaxPath = 120

// ocsfMessage is the event's message, OCSF's recommended short description
// for humans: the attack, what was done about it, and the request, e.g.
// "SQL Injection blocked: GET /login". The attack is the firewall rule's
// name ("Request" without an attack type), the outcome the disposition in
// lower case, the path the URL's (cut to 120 bytes with "…"); without
// method or path that part is left out.
func ocsfMessage(ev *ocsfEvent) string {
	var b strings.Builder
	if ev.FirewallRule != nil && ev.FirewallRule.Name != "" {
		b.WriteString(ev.FirewallRule.Name)
	} else {
		b.WriteString("Request")
	}
	b.WriteByte(' ')
	b.WriteString(strings.ToLower(ev.Disposition))
	method, path := "", ""
	if r := ev.HTTPRequest; r != nil {
		method = r.HTTPMethod
		if method == "" && ev.ActivityID == 99 {
			method = ev.ActivityName // a method OCSF does not list
		}
		if r.URL != nil {
			path = r.URL.Path
		}
	}
	if len(path) > ocsfMessageMaxPath {
		cut := ocsfMessageMaxPath
		for cut > 0 && !utf8.RuneStart(path[cut]) {
			cut--
		}
		path = path[:cut] + "…"
	}
	if method != "" || path != "" {
		b.WriteString(":")
		for _, s := range []string{method, path} {
			if s != "" {
				b.WriteByte(' ')
				b.WriteString(s)
			}
		}
	}
	return b.String()
}
