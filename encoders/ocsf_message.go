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
	return string(ocsfAppendMessage(nil, ev))
}

// ocsfAppendMessage appends the message (ocsfMessage) to b.
func ocsfAppendMessage(b []byte, ev *ocsfEvent) []byte {
	if ev.FirewallRule != nil && ev.FirewallRule.Name != "" {
		b = append(b, ev.FirewallRule.Name...)
	} else {
		b = append(b, "Request"...)
	}
	b = append(b, ' ')
	switch d := ev.Disposition; d {
	case "Blocked":
		b = append(b, "blocked"...)
	case "Logged":
		b = append(b, "logged"...)
	case "Allowed":
		b = append(b, "allowed"...)
	case "Unknown":
		b = append(b, "unknown"...)
	default:
		b = append(b, strings.ToLower(d)...)
	}
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
	cut := false
	if len(path) > ocsfMessageMaxPath {
		n := ocsfMessageMaxPath
		for n > 0 && !utf8.RuneStart(path[n]) {
			n--
		}
		path, cut = path[:n], true
	}
	if method != "" || path != "" || cut {
		b = append(b, ':')
		if method != "" {
			b = append(b, ' ')
			b = append(b, method...)
		}
		if path != "" || cut {
			b = append(b, ' ')
			b = append(b, path...)
			if cut {
				b = append(b, "…"...)
			}
		}
	}
	return b
}
