//go:build integration

package itest

// The destination's server-side encryption and AssumeRole settings through
// the console, against the real binary with the Kafka registry (so the
// external id is sealed in a version 2 record and read back).

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func TestExportConsoleS3Options(t *testing.T) {
	e := newEnv(t, 1)
	srv := startConsoleServer(t, e)
	b := newBrowser(t)
	name := "sse-role-" + e.name[len(e.name)-6:]
	const roleARN = "arn:aws:iam::111122223333:role/hitexport-writer"
	const extID = "ext-console-8e2f41"

	b.do("open the console", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("signin-token")))
	b.do("sign in", chromedp.SendKeys(chromedp.ID("signin-token"), srv.Token+"\n"))
	b.waitJS("the list", `!document.getElementById('list-view').hidden`, 10*time.Second)
	b.do("open the add form", chromedp.Click(chromedp.ID("add-button")), chromedp.WaitVisible(chromedp.ID("f-name")),
		b.fill("f-name", name), b.fill("f-endpoint", s3Addr), b.fill("f-bucket", e.bucket.Name()),
		b.fill("f-access-key", accessKey), b.fill("f-secret-key", secretKey), b.fill("f-topic", e.topic))

	// SSE-S3 reaches the store: the test write to the S3 server passes with it.
	b.do("open the details, choose SSE-S3", chromedp.Click(chromedp.CSS("#f-advanced summary")),
		chromedp.SetValue(chromedp.ID("f-sse"), "s3"), chromedp.Click(chromedp.ID("test-button")))
	b.waitJS("the test with SSE-S3", `document.querySelector('#test-result-body .summary')?.dataset.ok === 'true'`, 40*time.Second)

	// A KMS key id without kms: refused next to its field.
	b.do("a KMS key with SSE-S3", b.fill("f-sse-kms-key-id", "alias/acme-logs"), chromedp.Click(chromedp.ID("save-button")))
	b.waitJS("the KMS key error", `!document.getElementById('e-destination.sse_kms_key_id').hidden &&
		document.getElementById('e-destination.sse_kms_key_id').textContent.includes('only with sse kms') &&
		document.getElementById('f-sse-kms-key-id').getAttribute('aria-invalid') === 'true'`, 10*time.Second)
	// A bad role ARN: refused next to its field.
	b.do("a bad role ARN", chromedp.SetValue(chromedp.ID("f-sse"), "kms"), b.fill("f-role-arn", "arn:aws:s3:::acme"),
		chromedp.Click(chromedp.ID("save-button")))
	b.waitJS("the role error", `!document.getElementById('e-destination.role_arn').hidden &&
		document.getElementById('e-destination.sse_kms_key_id').hidden`, 10*time.Second)
	if l := srv.list(t); len(l) != 0 {
		t.Fatalf("an invalid form was saved: %+v", l)
	}
	// Saved disabled (no STS runs here), with the role and the external id.
	b.do("save with a role", b.fill("f-role-arn", roleARN), b.fill("f-external-id", extID),
		b.fill("f-role-session-name", "hx-console"), b.fill("f-sts-endpoint", "http://127.0.0.1:1"),
		chromedp.Click(chromedp.ID("f-regular")), chromedp.Click(chromedp.ID("save-button")))
	b.waitJS("the new row", rowJS(name)+` !== undefined`, 20*time.Second)
	if strings.Contains(eval[string](b, `document.body.innerText`), extID) {
		t.Error("the page shows the external id")
	}
	dest := func() (string, map[string]any) {
		t.Helper()
		var out struct {
			Integrations []struct {
				ID          string         `json:"id"`
				Name        string         `json:"name"`
				Destination map[string]any `json:"destination"`
			} `json:"integrations"`
		}
		code, body := srv.api(t, http.MethodGet, "/api/v1/integrations", nil)
		if code != 200 || json.Unmarshal(body, &out) != nil || strings.Contains(string(body), extID) {
			t.Fatalf("GET: %d %s", code, body)
		}
		for _, it := range out.Integrations {
			if it.Name == name {
				return it.ID, it.Destination
			}
		}
		t.Fatalf("%s not saved: %s", name, body)
		return "", nil
	}
	id, d := dest()
	for k, want := range map[string]any{"sse": "kms", "sse_kms_key_id": "alias/acme-logs", "role_arn": roleARN, "external_id_set": true,
		"role_session_name": "hx-console", "sts_endpoint": "http://127.0.0.1:1"} {
		if d[k] != want {
			t.Errorf("saved destination.%s = %v, want %v", k, d[k], want)
		}
	}

	// Edit: the fields come back (the external id blank, "unchanged");
	// saving another change keeps the stored external id.
	b.do("edit", chromedp.Click(chromedp.CSS(`#rows tr[data-id=`+js(id)+`] button[data-action=edit]`)))
	b.waitJS("the edit form", `!document.getElementById('form-view').hidden && document.getElementById('f-advanced').open &&
		document.getElementById('f-role-arn').value === `+js(roleARN)+` && document.getElementById('f-sse').value === 'kms' &&
		document.getElementById('f-external-id').value === '' && document.getElementById('f-external-id').placeholder === 'unchanged'`, 10*time.Second)
	b.do("change the session name", b.fill("f-role-session-name", "hx-edited"), chromedp.Click(chromedp.ID("save-button")))
	b.waitJS("back to the list", `!document.getElementById('list-view').hidden`, 20*time.Second)
	if _, d = dest(); d["role_session_name"] != "hx-edited" || d["external_id_set"] != true || d["role_arn"] != roleARN {
		t.Fatalf("after the edit: %v", d)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.errs) > 0 || len(b.dlgs) > 0 {
		t.Errorf("page errors %q, dialogs %q", b.errs, b.dlgs)
	}
}
