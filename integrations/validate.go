package integrations

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hitexport/hitexport/pipeline"
)

// FieldError is a validation error of one field: Field is a dotted path of
// the JSON resource (destination.bucket, filter.match.application_id,
// start). Messages never contain secrets.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldErr(field, msg string) *FieldError { return &FieldError{Field: field, Message: msg} }

// Formats and Compressions are the accepted values of format and
// compression (the encoders' formats; a test keeps them in step).
var (
	Formats      = []string{"json", "ndjson", "ocsf", "ocsf-json"}
	Compressions = []string{"none", "gzip", "zstd"}
	// SSEModes are the accepted values of destination.sse.
	SSEModes = []string{SSENone, SSES3, SSEKMS}
)

// Limits of the filter.
const (
	MaxMatchFields = 32
	MaxMatchValues = 1000
)

var (
	idRe     = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)
	nameRe   = regexp.MustCompile(`^[A-Za-z0-9 ._-]{1,64}$`)
	regionRe = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)
	topicRe  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,249}$`)
	hostRe   = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$`)
	bucketRe = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	// Key prefix: S3's safe characters, '=' for Hive-style folders
	// (dt=2026-12-02/), and the date placeholders.
	prefixRe      = regexp.MustCompile(`^([A-Za-z0-9!_.*'()/=-]|\{(yyyy|mm|dd|hh)\})*$`)
	placeholderRe = regexp.MustCompile(`\{[^}]*\}?`)
	// IAM role ARN (arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME): the
	// partition (aws, aws-cn, aws-us-gov, ...), a 12-digit account, the
	// role's path and name of IAM's characters. The same rules as
	// HITEXPORT_S3_ROLE_ARN, HITEXPORT_S3_EXTERNAL_ID and
	// HITEXPORT_S3_ROLE_SESSION_NAME.
	roleARNRe     = regexp.MustCompile(`^arn:[a-z0-9-]+:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$`)
	externalIDRe  = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
	sessionNameRe = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
)

// Validate checks every field of it and returns the first problem as a
// *FieldError, or nil. Both secrets must be set.
func (it Integration) Validate() error {
	if err := it.validate(); err != nil {
		return err
	}
	return nil
}

func (it Integration) validate() *FieldError {
	if !idRe.MatchString(it.ID) {
		return fieldErr("id", "must be 1-64 characters a-z, 0-9 and -, starting with a letter or digit")
	}
	if it.Name == "" {
		return fieldErr("name", "required")
	}
	if !nameRe.MatchString(it.Name) {
		return fieldErr("name", "must be 1-64 characters: letters, digits, space, '.', '_' or '-'")
	}
	if e := validateDestination(it.Destination); e != nil {
		return e
	}
	if !contains(Formats, it.Format) {
		return fieldErr("format", fmt.Sprintf("unknown format %q: accepted %s", it.Format, strings.Join(Formats, ", ")))
	}
	if !contains(Compressions, it.Compression) {
		return fieldErr("compression", fmt.Sprintf("unknown compression %q: accepted %s", it.Compression, strings.Join(Compressions, ", ")))
	}
	if e := validatePrefix(it.KeyPrefix); e != nil {
		return e
	}
	if e := validateFilter(it.Filter); e != nil {
		return e
	}
	if e := validateStart(it.Start); e != nil {
		return e
	}
	if it.NotifyURL != "" {
		u, err := url.Parse(it.NotifyURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fieldErr("notify_url", "must be an http:// or https:// URL with a host")
		}
		if u.User != nil {
			return fieldErr("notify_url", "must not contain user information (put credentials elsewhere)")
		}
	}
	switch it.DisabledBy {
	case "", DisabledByUser, DisabledByAuto:
	default:
		return fieldErr("disabled_by", "unknown value: accepted user, auto")
	}
	return nil
}

func validateDestination(d Destination) *FieldError {
	if d.Endpoint == "" {
		return fieldErr("destination.endpoint", "required: host or host:port")
	}
	if strings.Contains(d.Endpoint, "://") || strings.ContainsAny(d.Endpoint, "/?#@ ") {
		return fieldErr("destination.endpoint", "must be host or host:port, without scheme or path (TLS is destination.tls)")
	}
	host, port := d.Endpoint, ""
	if h, p, err := net.SplitHostPort(d.Endpoint); err == nil {
		host, port = h, p
	} else if strings.Count(d.Endpoint, ":") > 0 && !strings.HasPrefix(d.Endpoint, "[") {
		if strings.Count(d.Endpoint, ":") == 1 {
			return fieldErr("destination.endpoint", "must be host or host:port, with a port from 1 to 65535")
		}
		return fieldErr("destination.endpoint", "an IPv6 address needs brackets: [::1]:9000")
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return fieldErr("destination.endpoint", "the port must be a number from 1 to 65535")
		}
	}
	if net.ParseIP(host) == nil && !hostRe.MatchString(host) {
		return fieldErr("destination.endpoint", "not a valid host name or IP address")
	}
	if d.Bucket == "" {
		return fieldErr("destination.bucket", "required")
	}
	if msg := bucketProblem(d.Bucket); msg != "" {
		return fieldErr("destination.bucket", msg)
	}
	if !regionRe.MatchString(d.Region) {
		return fieldErr("destination.region", "must be 1-64 characters a-z, 0-9 and - (e.g. us-east-1)")
	}
	if d.AccessKey == "" {
		return fieldErr("destination.access_key", "required")
	}
	if d.SecretKey == "" {
		return fieldErr("destination.secret_key", "required")
	}
	if len(d.AccessKey) > 1024 || strings.ContainsAny(d.AccessKey, "\r\n") {
		return fieldErr("destination.access_key", "must be at most 1024 characters on one line")
	}
	if len(d.SecretKey) > 1024 || strings.ContainsAny(d.SecretKey, "\r\n") {
		return fieldErr("destination.secret_key", "must be at most 1024 characters on one line")
	}
	if d.CAPEM != "" {
		if !d.TLS {
			return fieldErr("destination.ca_pem", "set, but destination.tls is false: enable TLS or remove it")
		}
		if !x509.NewCertPool().AppendCertsFromPEM([]byte(d.CAPEM)) {
			return fieldErr("destination.ca_pem", "holds no PEM certificate (expected -----BEGIN CERTIFICATE----- blocks)")
		}
	}
	return validateS3Options(d)
}

// validateS3Options checks server-side encryption and AssumeRole. Empty
// sse and role_session_name stand for their defaults. Messages never echo
// the external id.
func validateS3Options(d Destination) *FieldError {
	switch d.SSE {
	case "", SSENone, SSES3:
		if d.SSEKMSKeyID != "" {
			mode := d.SSE
			if mode == "" {
				mode = SSENone
			}
			return fieldErr("destination.sse_kms_key_id", fmt.Sprintf("only with sse kms (destination.sse is %s): set destination.sse to kms or remove the key id", mode))
		}
	case SSEKMS:
	default:
		return fieldErr("destination.sse", fmt.Sprintf("unknown %q: accepted none, s3 (SSE-S3), kms (SSE-KMS)", d.SSE))
	}
	if k := d.SSEKMSKeyID; k != "" && (len(k) > 2048 || strings.ContainsAny(k, " \t\r\n")) {
		return fieldErr("destination.sse_kms_key_id", "must be a KMS key id, key ARN, alias or alias ARN without spaces (at most 2048 characters)")
	}
	if d.RoleSessionName != "" && !sessionNameRe.MatchString(d.RoleSessionName) {
		return fieldErr("destination.role_session_name", "must be 2 to 64 characters of letters, digits and + = , . @ - _")
	}
	if d.RoleARN == "" {
		if d.ExternalID != "" {
			return fieldErr("destination.external_id", "set, but destination.role_arn is empty: it only applies to AssumeRole")
		}
		if d.STSEndpoint != "" {
			return fieldErr("destination.sts_endpoint", "set, but destination.role_arn is empty: it only applies to AssumeRole")
		}
		return nil
	}
	if !roleARNRe.MatchString(d.RoleARN) {
		return fieldErr("destination.role_arn", "must be an IAM role ARN such as arn:aws:iam::123456789012:role/hitexport-writer")
	}
	if e := d.ExternalID; e != "" && (len(e) < 2 || len(e) > 1224 || !externalIDRe.MatchString(e)) {
		return fieldErr("destination.external_id", "must be 2 to 1224 characters of letters, digits and + = , . @ : / - _")
	}
	if d.STSEndpoint != "" {
		u, err := url.Parse(d.STSEndpoint)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") ||
			u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.User != nil {
			return fieldErr("destination.sts_endpoint", "must be an http(s) URL without path, query or user information, e.g. https://sts.eu-west-1.amazonaws.com")
		}
	}
	return nil
}

// bucketProblem applies S3's bucket naming rules.
func bucketProblem(b string) string {
	if !bucketRe.MatchString(b) {
		return "must be 3-63 characters: lower-case letters, digits, '.' and '-', starting and ending with a letter or digit"
	}
	if strings.Contains(b, "..") || strings.Contains(b, ".-") || strings.Contains(b, "-.") {
		return "must not contain two adjacent periods or a period next to a hyphen"
	}
	if net.ParseIP(b) != nil {
		return "must not be formatted as an IP address"
	}
	if strings.HasPrefix(b, "xn--") || strings.HasPrefix(b, "sthree-") {
		return "must not start with xn-- or sthree-"
	}
	if strings.HasSuffix(b, "-s3alias") || strings.HasSuffix(b, "--ol-s3") {
		return "must not end with -s3alias or --ol-s3"
	}
	return ""
}

func validatePrefix(p string) *FieldError {
	if p == "" {
		return nil
	}
	if len(p) > 512 {
		return fieldErr("key_prefix", "must be at most 512 characters")
	}
	if strings.HasPrefix(p, "/") {
		return fieldErr("key_prefix", "must not start with /")
	}
	if strings.Contains(p, "//") {
		return fieldErr("key_prefix", "must not contain an empty folder (//)")
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return fieldErr("key_prefix", "must not contain . or .. folders")
		}
	}
	if !prefixRe.MatchString(p) {
		if ph := placeholderRe.FindString(p); ph != "" {
			return fieldErr("key_prefix", fmt.Sprintf("unknown placeholder %q: accepted {yyyy}, {mm}, {dd}, {hh}", ph))
		}
		return fieldErr("key_prefix", "may hold only S3-safe characters: letters, digits, and ! - _ . * ' ( ) / = (plus the placeholders {yyyy}, {mm}, {dd}, {hh})")
	}
	if _, tmpl := SplitKeyPrefix(p); tmpl != "" {
		if _, err := pipeline.ParseKeyTemplate(tmpl + pipeline.KeyFileName); err != nil {
			return fieldErr("key_prefix", err.Error())
		}
	}
	return nil
}

// SplitKeyPrefix splits a key prefix into its literal beginning (up to the
// last / before the first placeholder: the bucket's prefix, under which the
// exporter also keeps its own staging) and the folders with placeholders
// (the key template's folders, rendered per window: e.g.
// "waf/dt={yyyy}-{mm}-{dd}/" gives "waf/" and "dt={yyyy}-{mm}-{dd}/").
func SplitKeyPrefix(p string) (literal, template string) {
	i := strings.IndexByte(p, '{')
	if i < 0 {
		return p, ""
	}
	j := strings.LastIndexByte(p[:i], '/') + 1
	return p[:j], p[j:]
}

func validateFilter(f Filter) *FieldError {
	if f.Topic == "" {
		return fieldErr("filter.topic", "required")
	}
	if !topicRe.MatchString(f.Topic) || f.Topic == "." || f.Topic == ".." {
		return fieldErr("filter.topic", "not a valid Kafka topic name (1-249 characters: letters, digits, '.', '_', '-')")
	}
	if len(f.Match) > MaxMatchFields {
		return fieldErr("filter.match", fmt.Sprintf("at most %d fields", MaxMatchFields))
	}
	for k, vs := range f.Match {
		field := "filter.match." + k
		if k == "" || len(k) > 256 || !utf8.ValidString(k) {
			return fieldErr("filter.match", "field names must be 1-256 characters of valid UTF-8")
		}
		if len(vs) == 0 {
			return fieldErr(field, "needs at least one value (a list of JSON values, e.g. [1, 2])")
		}
		if len(vs) > MaxMatchValues {
			return fieldErr(field, fmt.Sprintf("at most %d values", MaxMatchValues))
		}
		for _, v := range vs {
			if !json.Valid(v) {
				return fieldErr(field, "values must be JSON values")
			}
			if !utf8.Valid(v) {
				return fieldErr(field, "values must be valid UTF-8")
			}
		}
	}
	return nil
}

func validateStart(s string) *FieldError {
	switch s {
	case "latest", "earliest":
		return nil
	}
	if _, err := time.Parse(time.RFC3339, s); err != nil {
		return fieldErr("start", fmt.Sprintf("unknown %q: accepted latest, earliest or an RFC 3339 time such as 2026-12-01T00:00:00Z", s))
	}
	return nil
}

// StartTime returns the time of an RFC 3339 start, ok false for latest and
// earliest.
func (it Integration) StartTime() (time.Time, bool) {
	t, err := time.Parse(time.RFC3339, it.Start)
	return t, err == nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
