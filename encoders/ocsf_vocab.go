package encoders

// Vocabularies of the OCSF mapping: activities, severities, attack types.

// ocsfActivities: the class's activity enum, keyed by the HTTP method (exact,
// case-sensitive: HTTP methods are).
var ocsfActivities = map[string]ocsfActivity{
	"CONNECT": {1, "Connect"},
	"DELETE":  {2, "Delete"},
	"GET":     {3, "Get"},
	"HEAD":    {4, "Head"},
	"OPTIONS": {5, "Options"},
	"POST":    {6, "Post"},
	"PUT":     {7, "Put"},
	"TRACE":   {8, "Trace"},
	"PATCH":   {9, "Patch"},
}

type ocsfActivity struct {
	id   int
	name string
}

var ocsfSeverityNames = [...]string{0: "Unknown", 1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical", 6: "Fatal"}

// ocsfAttackInfo describes one vendor attack type: its display name, the base
// severity_id and the MITRE ATT&CK mapping.
type ocsfAttackInfo struct {
	name     string
	severity int
	attack   *ocsfAttack
}

var (
	ocsfAttackExploit = &ocsfAttack{
		Tactic:    &ocsfMitre{UID: "TA0001", Name: "Initial Access"},
		Technique: &ocsfMitre{UID: "T1190", Name: "Exploit Public-Facing Application"},
	}
	ocsfAttackBrute = &ocsfAttack{
		Tactic:    &ocsfMitre{UID: "TA0006", Name: "Credential Access"},
		Technique: &ocsfMitre{UID: "T1110", Name: "Brute Force"},
	}
	ocsfAttackScanning = &ocsfAttack{
		Tactic:       &ocsfMitre{UID: "TA0043", Name: "Reconnaissance"},
		Technique:    &ocsfMitre{UID: "T1595", Name: "Active Scanning"},
		SubTechnique: &ocsfMitre{UID: "T1595.002", Name: "Vulnerability Scanning"},
	}
)

// Severity scale: 4 High = the attack can compromise the server or its data;
// 3 Medium = it targets the application's users or sessions; 2 Low =
// reconnaissance. Blocked hits are one level lower (see ocsfSeverity).
var ocsfAttackTypes = map[string]ocsfAttackInfo{
	"sqli":           {"SQL Injection", 4, ocsfAttackExploit},
	"nosqli":         {"NoSQL Injection", 4, ocsfAttackExploit},
	"rce":            {"Remote Code Execution", 4, ocsfAttackExploit},
	"xxe":            {"XML External Entity", 4, ocsfAttackExploit},
	"ssrf":           {"Server-Side Request Forgery", 4, ocsfAttackExploit},
	"ptrav":          {"Path Traversal", 4, ocsfAttackExploit},
	"ldapi":          {"LDAP Injection", 4, ocsfAttackExploit},
	"ssti":           {"Server-Side Template Injection", 4, ocsfAttackExploit},
	"vpatch":         {"Virtual Patch", 4, ocsfAttackExploit},
	"xss":            {"Cross-Site Scripting", 3, ocsfAttackExploit},
	"crlf":           {"CRLF Injection", 3, ocsfAttackExploit},
	"redir":          {"Open Redirect", 3, ocsfAttackExploit},
	"mail_injection": {"Mail Injection", 3, ocsfAttackExploit},
	"brute":          {"Brute Force", 3, ocsfAttackBrute},
	"scanner":        {"Scanner", 2, ocsfAttackScanning},
}

// ocsfUnknownAttackSeverity is the base severity of an attack type not listed
// above (or missing): a hit is a detected attack, so not below Medium.
const ocsfUnknownAttackSeverity = 3

// ocsfSeverity is the severity rule: the attack type's base severity (High 4,
// Medium 3, Low 2; 3 when unknown), one level lower when the request was
// blocked, never below Informational (1).
func ocsfSeverity(base int, blocked bool) int {
	if blocked {
		base--
	}
	if base < 1 {
		base = 1
	}
	return base
}
