package adminapi

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hitexport/hitexport/integrations"
)

type oaDoc struct {
	OpenAPI string                                `json:"openapi"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
	Comps   struct {
		Schemas map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"schemas"`
	} `json:"components"`
}

type oaOp struct {
	Responses map[string]json.RawMessage `json:"responses"`
}

func loadDoc(t *testing.T) oaDoc {
	t.Helper()
	var d oaDoc
	if err := json.Unmarshal(OpenAPI, &d); err != nil {
		t.Fatal(err)
	}
	if d.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q", d.OpenAPI)
	}
	return d
}

// docOps returns "METHOD path" → documented statuses.
func docOps(t *testing.T, d oaDoc) map[string][]int {
	out := map[string][]int{}
	for path, item := range d.Paths {
		for m, raw := range item {
			if m == "parameters" {
				continue
			}
			var op oaOp
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatal(err)
			}
			var codes []int
			for c := range op.Responses {
				n, err := strconv.Atoi(c)
				if err != nil {
					t.Fatalf("%s %s: response %q", m, path, c)
				}
				codes = append(codes, n)
			}
			sort.Ints(codes)
			out[strings.ToUpper(m)+" "+path] = codes
		}
	}
	return out
}

// TestOpenAPIRoutes: the document and the server serve the same routes with
// the same statuses.
func TestOpenAPIRoutes(t *testing.T) {
	d := loadDoc(t)
	ops := docOps(t, d)
	served := map[string]bool{}
	for _, rt := range routes {
		k := rt.method + " " + rt.pattern
		served[k] = true
		codes, ok := ops[k]
		if !ok {
			t.Errorf("served route %s is not in the document", k)
			continue
		}
		want := slices.Clone(rt.statuses)
		sort.Ints(want)
		if !slices.Equal(codes, want) {
			t.Errorf("%s: the document lists %v, the handler answers %v", k, codes, want)
		}
	}
	for k := range ops {
		if !served[k] {
			t.Errorf("documented route %s is not served", k)
		}
	}

	// Every documented route answers (not 404 for the route, not 405).
	f := newFixture(t, nil)
	it := f.create("doc-check")
	keys := make([]string, 0, len(ops))
	for k := range ops {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return strings.HasPrefix(keys[j], "DELETE") }) // delete last
	for _, k := range keys {
		method, path, _ := strings.Cut(k, " ")
		path = strings.ReplaceAll(path, "{id}", it.ID)
		body := ""
		switch method {
		case "POST":
			body = createBody(fmt.Sprintf("n%d", len(body)+len(k)))
		case "PATCH":
			body = `{"format":"json"}`
		}
		a := f.do(method, path, body)
		if a.status == 404 || a.status == 405 || a.status >= 500 {
			t.Errorf("%s %s: %d %s", method, path, a.status, a.body)
		}
	}
}

// TestOpenAPIStatusesSeen drives every route through its answers and checks
// each status the handler actually answered is documented for that route.
func TestOpenAPIStatusesSeen(t *testing.T) {
	ops := docOps(t, loadDoc(t))
	f := newFixture(t, nil)
	it := f.create("a")
	f.create("b")
	bad := `{"name":"x","format":"xml","destination":{"endpoint":"h","bucket":"acme","access_key":"a","secret_key":"s"}}`
	big := `{"name":"` + strings.Repeat("x", 70<<10) + `"}`
	for _, p := range []string{"/api/v1/integrations", "/api/v1/integrations/" + it.ID, "/api/v1/integrations/" + it.ID + "/test", "/api/v1/integrations/test", "/api/v1/integrations/itg-none", "/api/v1/integrations/itg-none/test"} {
		for _, m := range []string{"GET", "POST", "PATCH"} {
			for _, body := range []string{"", "{", `{"x":1}`, bad, big, createBody("a"), createBody("c" + strconv.Itoa(len(p)) + m), `{"name":"b"}`, `{"enabled":false}`} {
				f.do(m, p, body)
				f.do(m, p, body, "wrong-token")
			}
		}
	}
	f.do("DELETE", "/api/v1/integrations/itg-none", "")
	f.do("DELETE", "/api/v1/integrations/"+it.ID, "", "")
	f.do("DELETE", "/api/v1/integrations/"+it.ID, "")
	f.do("GET", "/api/v1/openapi.json", "", "")
	total := 0
	for k, statuses := range f.seen {
		for s := range statuses {
			total++
			if !slices.Contains(ops[k], s) {
				t.Errorf("%s answered %d, which the document does not list (%v)", k, s, ops[k])
			}
		}
	}
	if len(f.seen) != len(routes) || total < 25 {
		t.Fatalf("the scenario reached %d routes, %d statuses: %v", len(f.seen), total, f.seen)
	}
}

// jsonNames lists the JSON names of t's fields (none for "-").
func jsonNames(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// TestOpenAPISchemasMatchStructs: the schemas' property names are the Go
// types' JSON names.
func TestOpenAPISchemasMatchStructs(t *testing.T) {
	d := loadDoc(t)
	for schema, typ := range map[string]reflect.Type{
		"Integration":      reflect.TypeFor[integrations.Integration](),
		"Destination":      reflect.TypeFor[integrations.DestinationView](),
		"Filter":           reflect.TypeFor[integrations.Filter](),
		"Status":           reflect.TypeFor[integrations.Status](),
		"Delivery":         reflect.TypeFor[integrations.Delivery](),
		"LastError":        reflect.TypeFor[integrations.ErrorInfo](),
		"IntegrationInput": reflect.TypeFor[integrations.Patch](),
		"DestinationInput": reflect.TypeFor[integrations.DestinationPatch](),
		"FilterInput":      reflect.TypeFor[integrations.FilterPatch](),
		"IntegrationList":  reflect.TypeFor[IntegrationList](),
		"TestResult":       reflect.TypeFor[TestResult](),
		"TestStep":         reflect.TypeFor[TestStep](),
		"Error":            reflect.TypeFor[ErrorBody](),
		"ErrorDetail":      reflect.TypeFor[ErrorDetail](),
	} {
		s, ok := d.Comps.Schemas[schema]
		if !ok {
			t.Errorf("schema %s missing", schema)
			continue
		}
		var props []string
		for p := range s.Properties {
			props = append(props, p)
		}
		sort.Strings(props)
		if want := jsonNames(typ); !slices.Equal(props, want) {
			t.Errorf("schema %s has %v, %s has %v", schema, props, typ, want)
		}
	}
	// the marshalled Destination is the DestinationView
	b, _ := json.Marshal(integrations.Destination{AccessKey: "a", SecretKey: "b"})
	var m map[string]any
	json.Unmarshal(b, &m)
	var got []string
	for k := range m {
		got = append(got, k)
	}
	sort.Strings(got)
	if want := jsonNames(reflect.TypeFor[integrations.DestinationView]()); !slices.Equal(got, want) {
		t.Errorf("Destination marshals %v, want %v", got, want)
	}
}
