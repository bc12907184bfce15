package adminapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hitexport/hitexport/integrations"
)

// DefaultAdminURL is the CLI's API address without --addr or
// HITEXPORT_ADMIN_URL.
const DefaultAdminURL = "http://127.0.0.1:8081"

const cliUsage = `usage: hitexport integrations COMMAND [flags]

Commands (ID is an integration's id or its unique name):
  list                      every integration with its state
  get ID                    one integration
  add FLAGS | -f FILE       add an integration
  update ID FLAGS | -f FILE change the fields given (others keep their values)
  test ID                   "Test integration" on a stored integration
  test FLAGS | -f FILE      "Test integration" on an unsaved one (before add)
  enable ID [--from-now]    enable; resumes where it stopped, or from now
  disable ID                disable (kept, sends nothing)
  delete ID                 delete (stops, progress removed, objects stay)

Global flags:
  --addr URL          admin API (env HITEXPORT_ADMIN_URL, default http://127.0.0.1:8081)
  --token-file PATH   bearer token file (env HITEXPORT_ADMIN_TOKEN_FILE)
  -o table|json       output (default table)

Flags of add, update and test:
  --name NAME --endpoint HOST[:PORT] --bucket NAME --region REGION
  --access-key-file PATH --secret-key-file PATH   (secrets are read from files, never printed)
  --format json|ndjson|ocsf|ocsf-json --compression none|gzip|zstd --prefix KEY_PREFIX
  --topic TOPIC --match FIELD=JSON[,JSON...] (repeatable; a value that is not JSON is a string:
      --match application_id=1,2 --match domain=a.example,b.example --match 'status="1"')
  --clear-match (update: remove the match) --start latest|earliest|RFC3339 --tls --ca-file PATH
  --notify-url URL --enabled=false
  --sse none|s3|kms --sse-kms-key-id ID (server-side encryption of every object)
  --role-arn ARN --external-id-file PATH --role-session-name NAME --sts-endpoint URL
      (write with an assumed role's temporary credentials; --role-arn "" removes the role)
  -f FILE   a JSON body (the API's fields); flags given as well override it
`

type cli struct {
	addr, tokenFile, output string
	stdout, stderr          io.Writer
	http                    *http.Client
}

// RunCLI runs `hitexport integrations ARGS...` against the admin API and
// returns the exit code: 0 ok, 1 failed (an API error, a failed test),
// 2 usage.
func RunCLI(args []string, stdout, stderr io.Writer) int {
	c := &cli{stdout: stdout, stderr: stderr, http: &http.Client{Timeout: 2 * time.Minute}}
	c.addr = os.Getenv("HITEXPORT_ADMIN_URL")
	if c.addr == "" {
		c.addr = DefaultAdminURL
	}
	c.tokenFile = os.Getenv("HITEXPORT_ADMIN_TOKEN_FILE")
	c.output = "table"
	global := c.flagSet("integrations")
	if err := global.Parse(args); err != nil {
		return 2
	}
	rest := global.Args()
	if len(rest) == 0 || rest[0] == "help" {
		fmt.Fprint(stderr, cliUsage)
		if len(rest) == 0 {
			return 2
		}
		return 0
	}
	cmd, rest := rest[0], rest[1:]
	var err error
	switch cmd {
	case "list":
		err = c.list(rest)
	case "get":
		err = c.get(rest)
	case "add":
		err = c.add(rest)
	case "update":
		err = c.update(rest)
	case "test":
		err = c.test(rest)
	case "enable", "disable":
		err = c.enable(cmd == "enable", rest)
	case "delete":
		err = c.delete(rest)
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", cmd, cliUsage)
		return 2
	}
	var ue usageError
	var tf testFailed
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "hitexport integrations %s: %s\n", cmd, ue.msg)
		return 2
	case errors.As(err, &tf):
		return 1
	default:
		fmt.Fprintf(stderr, "hitexport integrations %s: %v\n", cmd, err)
		return 1
	}
}

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

type testFailed struct{}

func (testFailed) Error() string { return "test failed" }

func (c *cli) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() { fmt.Fprint(c.stderr, cliUsage) }
	fs.StringVar(&c.addr, "addr", c.addr, "admin API URL")
	fs.StringVar(&c.tokenFile, "token-file", c.tokenFile, "bearer token file")
	fs.StringVar(&c.output, "o", c.output, "output: table or json")
	fs.StringVar(&c.output, "output", c.output, "output: table or json")
	return fs
}

// parse parses flags and positional arguments in any order; npos is the
// number of positional arguments wanted (-1: zero or one).
func (c *cli) parse(fs *flag.FlagSet, args []string, npos int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if npos < 0 && len(pos) > 1 {
		return nil, usageError{"takes one ID, or flags for an unsaved integration"}
	}
	if npos >= 0 && len(pos) != npos {
		if npos == 1 {
			return nil, usageError{"needs one ID (the integration's id or name)"}
		}
		return nil, usageError{fmt.Sprintf("unexpected arguments %q", pos)}
	}
	if c.output != "table" && c.output != "json" {
		return nil, usageError{"-o must be table or json"}
	}
	return pos, nil
}

// apiErr is an error answer of the API.
type apiErr struct {
	status int
	ErrorDetail
}

func (e *apiErr) Error() string {
	s := fmt.Sprintf("%s (%d %s)", e.Message, e.status, e.Code)
	if e.Field != "" && !strings.HasPrefix(e.Message, e.Field+":") {
		s = e.Field + ": " + s
	}
	return s
}

func (c *cli) call(method, path string, body []byte) ([]byte, error) {
	base := strings.TrimRight(c.addr, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.tokenFile != "" {
		tok, err := LoadToken(c.tokenFile)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin API at %s not reachable (--addr or HITEXPORT_ADMIN_URL): %v", c.addr, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if res.StatusCode >= 300 {
		var eb ErrorBody
		if json.Unmarshal(b, &eb) == nil && eb.Error.Code != "" {
			return nil, &apiErr{res.StatusCode, eb.Error}
		}
		return nil, fmt.Errorf("admin API answered %s", res.Status)
	}
	return b, nil
}

// resolve returns the id of an id or unique name.
func (c *cli) resolve(ref string) (integrations.Integration, error) {
	var it integrations.Integration
	b, err := c.call("GET", "/api/v1/integrations/"+url.PathEscape(ref), nil)
	var ae *apiErr
	if err == nil {
		return it, json.Unmarshal(b, &it)
	}
	if !errors.As(err, &ae) || ae.status != http.StatusNotFound {
		return it, err
	}
	b, err = c.call("GET", "/api/v1/integrations", nil)
	if err != nil {
		return it, err
	}
	var list IntegrationList
	if err := json.Unmarshal(b, &list); err != nil {
		return it, err
	}
	var found []integrations.Integration
	for _, x := range list.Integrations {
		if x.Name == ref {
			found = append(found, x)
		}
	}
	switch len(found) {
	case 0:
		return it, fmt.Errorf("no integration with id or name %q", ref)
	case 1:
		return found[0], nil
	}
	return it, fmt.Errorf("%d integrations are named %q: use the id", len(found), ref)
}

func (c *cli) printJSON(b []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := c.stdout.Write(buf.Bytes())
	return err
}

func (c *cli) list(args []string) error {
	fs := c.flagSet("list")
	if _, err := c.parse(fs, args, 0); err != nil {
		return err
	}
	b, err := c.call("GET", "/api/v1/integrations", nil)
	if err != nil {
		return err
	}
	if c.output == "json" {
		return c.printJSON(b)
	}
	var list IntegrationList
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATE\tFORMAT\tDESTINATION\tFILTER\tLAST DELIVERY\tLAG")
	for _, it := range list.Integrations {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.ID, it.Name, state(it), format(it), destination(it), filterText(it.Filter), lastDelivery(it), lag(it))
	}
	return tw.Flush()
}

func state(it integrations.Integration) string {
	if it.Status == nil {
		return "-"
	}
	return it.Status.State
}

func format(it integrations.Integration) string {
	if it.Compression == "" || it.Compression == "none" {
		return it.Format
	}
	return it.Format + "+" + it.Compression
}

func destination(it integrations.Integration) string {
	scheme := "http"
	if it.Destination.TLS {
		scheme = "https"
	}
	return scheme + "://" + it.Destination.Endpoint + "/" + it.Destination.Bucket + "/" + it.KeyPrefix
}

func filterText(f integrations.Filter) string {
	if len(f.Match) == 0 {
		return f.Topic
	}
	var parts []string
	for _, k := range sortedKeys(f.Match) {
		var vs []string
		for _, v := range f.Match[k] {
			vs = append(vs, string(v))
		}
		parts = append(parts, k+"="+strings.Join(vs, ","))
	}
	return f.Topic + " " + strings.Join(parts, " ")
}

func sortedKeys(m map[string][]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

func lastDelivery(it integrations.Integration) string {
	if it.Status == nil || it.Status.LastDelivery == nil {
		return "-"
	}
	return it.Status.LastDelivery.Time.UTC().Format(time.RFC3339)
}

func lag(it integrations.Integration) string {
	if it.Status == nil {
		return "-"
	}
	return fmt.Sprint(it.Status.LagRecords)
}

func (c *cli) get(args []string) error {
	fs := c.flagSet("get")
	pos, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	it, err := c.resolve(pos[0])
	if err != nil {
		return err
	}
	return c.show(it)
}

func (c *cli) show(it integrations.Integration) error {
	if c.output == "json" {
		b, _ := json.Marshal(it)
		return c.printJSON(b)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s\t%v\n", k, v) }
	row("id", it.ID)
	row("name", it.Name)
	row("enabled", it.Enabled)
	row("endpoint", it.Destination.Endpoint)
	row("bucket", it.Destination.Bucket)
	row("region", it.Destination.Region)
	row("tls", it.Destination.TLS)
	row("credentials", map[bool]string{true: "set", false: "not set"}[it.Destination.View().CredentialsSet])
	if d := it.Destination; d.SSE != "" && d.SSE != integrations.SSENone {
		sse := d.SSE
		if d.SSEKMSKeyID != "" {
			sse += " (key " + d.SSEKMSKeyID + ")"
		}
		row("sse", sse)
	}
	if d := it.Destination; d.RoleARN != "" {
		row("role_arn", d.RoleARN)
		row("external_id", map[bool]string{true: "set", false: "not set"}[d.View().ExternalIDSet])
		row("role_session_name", d.RoleSessionName)
		if d.STSEndpoint != "" {
			row("sts_endpoint", d.STSEndpoint)
		}
	}
	row("format", it.Format)
	row("compression", it.Compression)
	row("key_prefix", it.KeyPrefix)
	row("filter", filterText(it.Filter))
	row("start", it.Start)
	if it.NotifyURL != "" {
		row("notify_url", it.NotifyURL)
	}
	row("created_at", it.CreatedAt.UTC().Format(time.RFC3339))
	row("updated_at", it.UpdatedAt.UTC().Format(time.RFC3339))
	if st := it.Status; st != nil {
		row("state", st.State)
		if st.Reason != "" {
			row("reason", st.Reason)
		}
		row("last_delivery", lastDelivery(it))
		if st.LastDelivery != nil {
			row("last_key", st.LastDelivery.Key)
		}
		if st.LastError != nil {
			row("last_error", fmt.Sprintf("%s %s: %s", st.LastError.Time.UTC().Format(time.RFC3339), st.LastError.Class, st.LastError.Message))
		}
		row("failure_ratio", fmt.Sprintf("%.3f", st.FailureRatio))
		row("lag_records", st.LagRecords)
		if st.OldestUndelivered != nil {
			row("oldest_undelivered", st.OldestUndelivered.UTC().Format(time.RFC3339))
		}
		if st.LostRecords > 0 {
			row("lost_records", st.LostRecords)
		}
	}
	return tw.Flush()
}

// bodyFlags are the resource flags of add, update and test.
type bodyFlags struct {
	file                                                   string
	name, endpoint, bucket, region, akFile, skFile, caFile string
	format, compression, prefix, topic, start, notify      string
	sse, kmsKeyID, roleARN, extIDFile, sessionName, stsURL string
	tls, enabled, clearMatch                               bool
	match                                                  matchFlags
}

type matchFlags []string

func (m *matchFlags) String() string     { return strings.Join(*m, " ") }
func (m *matchFlags) Set(v string) error { *m = append(*m, v); return nil }

func (b *bodyFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&b.file, "f", "", "JSON body file")
	fs.StringVar(&b.name, "name", "", "name")
	fs.StringVar(&b.endpoint, "endpoint", "", "S3 endpoint host[:port]")
	fs.StringVar(&b.bucket, "bucket", "", "bucket")
	fs.StringVar(&b.region, "region", "", "region")
	fs.StringVar(&b.akFile, "access-key-file", "", "file holding the access key")
	fs.StringVar(&b.skFile, "secret-key-file", "", "file holding the secret key")
	fs.StringVar(&b.caFile, "ca-file", "", "PEM file of CA certificates (with --tls)")
	fs.StringVar(&b.format, "format", "", "json, ndjson, ocsf or ocsf-json")
	fs.StringVar(&b.compression, "compression", "", "none, gzip or zstd")
	fs.StringVar(&b.prefix, "prefix", "", "key prefix")
	fs.StringVar(&b.topic, "topic", "", "Kafka topic")
	fs.StringVar(&b.start, "start", "", "latest, earliest or an RFC 3339 time")
	fs.StringVar(&b.notify, "notify-url", "", "webhook for state changes")
	fs.StringVar(&b.sse, "sse", "", "server-side encryption: none, s3 or kms")
	fs.StringVar(&b.kmsKeyID, "sse-kms-key-id", "", "KMS key id, ARN or alias (with --sse kms)")
	fs.StringVar(&b.roleARN, "role-arn", "", "IAM role ARN to assume for writes")
	fs.StringVar(&b.extIDFile, "external-id-file", "", "file holding the role's external id")
	fs.StringVar(&b.sessionName, "role-session-name", "", "STS session name (default hitexport)")
	fs.StringVar(&b.stsURL, "sts-endpoint", "", "STS URL (default https://sts.REGION.amazonaws.com)")
	fs.BoolVar(&b.tls, "tls", false, "use TLS")
	fs.BoolVar(&b.enabled, "enabled", true, "enabled")
	fs.BoolVar(&b.clearMatch, "clear-match", false, "remove the match")
	fs.Var(&b.match, "match", "FIELD=JSON[,JSON...] (repeatable)")
}

// patch builds the request body from -f and the flags that were set.
func (b *bodyFlags) patch(fs *flag.FlagSet) (integrations.Patch, error) {
	var p integrations.Patch
	if b.file != "" {
		raw, err := os.ReadFile(b.file)
		if err != nil {
			return p, usageError{"-f: " + err.Error()}
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return p, usageError{"-f " + b.file + ": " + err.Error()}
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	str := func(v string) *string { return &v }
	dest := func() *integrations.DestinationPatch {
		if p.Destination == nil {
			p.Destination = &integrations.DestinationPatch{}
		}
		return p.Destination
	}
	filt := func() *integrations.FilterPatch {
		if p.Filter == nil {
			p.Filter = &integrations.FilterPatch{}
		}
		return p.Filter
	}
	readSecret := func(flagName, path string) (*string, error) {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, usageError{"--" + flagName + ": cannot read the file it names"}
		}
		s := strings.TrimRight(string(raw), "\r\n")
		if s == "" {
			return nil, usageError{"--" + flagName + ": the file is empty"}
		}
		return &s, nil
	}
	if set["enabled"] {
		p.Enabled = &b.enabled
	}
	if set["tls"] {
		dest().TLS = &b.tls
	}
	// Flags whose value goes into the body as it is.
	for _, f := range []struct {
		flag string
		v    string
		to   func(*string)
	}{
		{"name", b.name, func(s *string) { p.Name = s }},
		{"endpoint", b.endpoint, func(s *string) { dest().Endpoint = s }},
		{"bucket", b.bucket, func(s *string) { dest().Bucket = s }},
		{"region", b.region, func(s *string) { dest().Region = s }},
		{"sse", b.sse, func(s *string) { dest().SSE = s }},
		{"sse-kms-key-id", b.kmsKeyID, func(s *string) { dest().SSEKMSKeyID = s }},
		{"role-arn", b.roleARN, func(s *string) { dest().RoleARN = s }},
		{"role-session-name", b.sessionName, func(s *string) { dest().RoleSessionName = s }},
		{"sts-endpoint", b.stsURL, func(s *string) { dest().STSEndpoint = s }},
		{"format", b.format, func(s *string) { p.Format = s }},
		{"compression", b.compression, func(s *string) { p.Compression = s }},
		{"prefix", b.prefix, func(s *string) { p.KeyPrefix = s }},
		{"topic", b.topic, func(s *string) { filt().Topic = s }},
		{"start", b.start, func(s *string) { p.Start = s }},
		{"notify-url", b.notify, func(s *string) { p.NotifyURL = s }},
	} {
		if set[f.flag] {
			f.to(str(f.v))
		}
	}
	// Flags naming a file whose content is a secret.
	for _, f := range []struct {
		flag, path string
		to         func(*string)
	}{
		{"access-key-file", b.akFile, func(s *string) { dest().AccessKey = s }},
		{"secret-key-file", b.skFile, func(s *string) { dest().SecretKey = s }},
		{"external-id-file", b.extIDFile, func(s *string) { dest().ExternalID = s }},
	} {
		if set[f.flag] {
			s, err := readSecret(f.flag, f.path)
			if err != nil {
				return p, err
			}
			f.to(s)
		}
	}
	if set["ca-file"] {
		raw, err := os.ReadFile(b.caFile)
		if err != nil {
			return p, usageError{"--ca-file: " + err.Error()}
		}
		dest().CAPEM = str(string(raw))
	}
	if set["clear-match"] && len(b.match) > 0 {
		return p, usageError{"--clear-match and --match together"}
	}
	if set["clear-match"] {
		filt().Match = json.RawMessage("null")
	}
	if len(b.match) > 0 {
		m, err := parseMatch(b.match)
		if err != nil {
			return p, err
		}
		raw, _ := json.Marshal(m)
		filt().Match = raw
	}
	return p, nil
}

// parseMatch reads FIELD=V1,V2 flags: the values as a JSON list when they
// parse as one, otherwise each comma-separated value that is not JSON is a
// string.
func parseMatch(flags []string) (map[string][]json.RawMessage, error) {
	m := map[string][]json.RawMessage{}
	for _, f := range flags {
		field, vals, ok := strings.Cut(f, "=")
		if !ok || field == "" || vals == "" {
			return nil, usageError{fmt.Sprintf("--match %q: want FIELD=VALUE[,VALUE...]", f)}
		}
		var list []json.RawMessage
		if err := json.Unmarshal([]byte("["+vals+"]"), &list); err != nil {
			list = nil
			for _, v := range strings.Split(vals, ",") {
				if json.Valid([]byte(v)) {
					list = append(list, json.RawMessage(v))
				} else {
					b, _ := json.Marshal(v)
					list = append(list, b)
				}
			}
		}
		m[field] = append(m[field], list...)
	}
	return m, nil
}

func (c *cli) add(args []string) error {
	fs := c.flagSet("add")
	var bf bodyFlags
	bf.register(fs)
	if _, err := c.parse(fs, args, 0); err != nil {
		return err
	}
	p, err := bf.patch(fs)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(p)
	b, err := c.call("POST", "/api/v1/integrations", body)
	if err != nil {
		return err
	}
	var it integrations.Integration
	if err := json.Unmarshal(b, &it); err != nil {
		return err
	}
	if c.output == "json" {
		return c.printJSON(b)
	}
	fmt.Fprintf(c.stdout, "added %s (%s)\n", it.ID, it.Name)
	return nil
}

func (c *cli) update(args []string) error {
	fs := c.flagSet("update")
	var bf bodyFlags
	bf.register(fs)
	pos, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	p, err := bf.patch(fs)
	if err != nil {
		return err
	}
	it, err := c.resolve(pos[0])
	if err != nil {
		return err
	}
	body, _ := json.Marshal(p)
	if string(body) == "{}" {
		return usageError{"nothing to change: give flags or -f"}
	}
	return c.patchAndShow(it.ID, body, "updated")
}

func (c *cli) patchAndShow(id string, body []byte, verb string) error {
	b, err := c.call("PATCH", "/api/v1/integrations/"+url.PathEscape(id), body)
	if err != nil {
		return err
	}
	if c.output == "json" {
		return c.printJSON(b)
	}
	var it integrations.Integration
	if err := json.Unmarshal(b, &it); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s %s (%s): %s\n", verb, it.ID, it.Name, state(it))
	return nil
}

func (c *cli) test(args []string) error {
	fs := c.flagSet("test")
	var bf bodyFlags
	bf.register(fs)
	var pos []string
	var err error
	if pos, err = c.parse(fs, args, -1); err != nil {
		return err
	}
	var b []byte
	switch len(pos) {
	case 0:
		p, err := bf.patch(fs)
		if err != nil {
			return err
		}
		body, _ := json.Marshal(p)
		b, err = c.call("POST", "/api/v1/integrations/test", body)
		if err != nil {
			return err
		}
	case 1:
		it, err := c.resolve(pos[0])
		if err != nil {
			return err
		}
		b, err = c.call("POST", "/api/v1/integrations/"+url.PathEscape(it.ID)+"/test", nil)
		if err != nil {
			return err
		}
	default:
		return usageError{"test takes one ID, or flags for an unsaved integration"}
	}
	var res TestResult
	if err := json.Unmarshal(b, &res); err != nil {
		return err
	}
	if c.output == "json" {
		if err := c.printJSON(b); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "STEP\tRESULT\tMESSAGE")
		for _, s := range res.Steps {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Step, map[bool]string{true: "ok", false: "FAILED"}[s.OK], s.Message)
		}
		tw.Flush()
	}
	if !res.OK {
		return testFailed{}
	}
	return nil
}

func (c *cli) enable(on bool, args []string) error {
	name := "disable"
	if on {
		name = "enable"
	}
	fs := c.flagSet(name)
	fromNow := false
	if on {
		fs.BoolVar(&fromNow, "from-now", false, "resume from now instead of where it stopped")
	}
	pos, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	it, err := c.resolve(pos[0])
	if err != nil {
		return err
	}
	body := `{"enabled":false}`
	verb := "disabled"
	if on {
		body, verb = `{"enabled":true}`, "enabled"
		if fromNow {
			body, verb = `{"enabled":true,"resume":"latest"}`, "enabled from now"
		}
	}
	return c.patchAndShow(it.ID, []byte(body), verb)
}

func (c *cli) delete(args []string) error {
	fs := c.flagSet("delete")
	pos, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	it, err := c.resolve(pos[0])
	if err != nil {
		return err
	}
	if _, err := c.call("DELETE", "/api/v1/integrations/"+url.PathEscape(it.ID), nil); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "deleted %s (%s)\n", it.ID, it.Name)
	return nil
}
