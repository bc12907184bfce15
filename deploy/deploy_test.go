// Package deploy holds no code: only this test of the deployment files in
// deploy/ (Kubernetes manifests, Docker build and compose file, Grafana
// dashboard, S3 policies). It checks that they parse and agree with each
// other and with the program: every HITEXPORT_ variable is a real setting
// and the whole environment of the pod passes config.Parse, the probes and
// the Service use the port HTTP_ADDR listens on, the grace period outlasts
// the shutdown timeout, the dashboard queries only metrics that
// pipeline.NewMetrics registers (and all of them), and the Dockerfile's build
// commands build static binaries.
package deploy

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/hitexport/hitexport/config"
	"github.com/hitexport/hitexport/pipeline"
)

// ---- YAML helpers ----

// docs decodes every YAML document of a file into generic maps.
func docs(t *testing.T, path string) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if d != nil {
			out = append(out, d)
		}
	}
	return out
}

// strict decodes the single document of path into v, refusing fields v does
// not declare: a misspelt field (readinesProbe) fails here instead of being
// ignored by the cluster.
func strict(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// get walks a generic document: get(d, "metadata", "name").
func get(d any, path ...string) any {
	for _, p := range path {
		m, ok := d.(map[string]any)
		if !ok {
			return nil
		}
		d = m[p]
	}
	return d
}

func str(d any, path ...string) string {
	v := get(d, path...)
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func strMap(d any) map[string]string {
	m, _ := d.(map[string]any)
	out := map[string]string{}
	for k, v := range m {
		out[k] = fmt.Sprint(v)
	}
	return out
}

// subset reports whether every pair of sel is in labels.
func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// ---- the Deployment, strictly typed ----

type meta struct {
	Name        string            `yaml:"name"`
	Namespace   string            `yaml:"namespace"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type labelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
	InitialDelaySeconds int `yaml:"initialDelaySeconds"`
	PeriodSeconds       int `yaml:"periodSeconds"`
	TimeoutSeconds      int `yaml:"timeoutSeconds"`
	FailureThreshold    int `yaml:"failureThreshold"`
}

type container struct {
	Name            string   `yaml:"name"`
	Image           string   `yaml:"image"`
	ImagePullPolicy string   `yaml:"imagePullPolicy"`
	Command         []string `yaml:"command"`
	Args            []string `yaml:"args"`
	Ports           []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
		Protocol      string `yaml:"protocol"`
	} `yaml:"ports"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
		SecretRef *struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	Env []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom any    `yaml:"valueFrom"`
	} `yaml:"env"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	LivenessProbe   *probe `yaml:"livenessProbe"`
	ReadinessProbe  *probe `yaml:"readinessProbe"`
	StartupProbe    *probe `yaml:"startupProbe"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type deployment struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   meta   `yaml:"metadata"`
	Spec       struct {
		Replicas             int           `yaml:"replicas"`
		RevisionHistoryLimit int           `yaml:"revisionHistoryLimit"`
		Selector             labelSelector `yaml:"selector"`
		Strategy             struct {
			Type          string `yaml:"type"`
			RollingUpdate struct {
				MaxUnavailable any `yaml:"maxUnavailable"`
				MaxSurge       any `yaml:"maxSurge"`
			} `yaml:"rollingUpdate"`
		} `yaml:"strategy"`
		Template struct {
			Metadata meta `yaml:"metadata"`
			Spec     struct {
				AutomountServiceAccountToken  *bool `yaml:"automountServiceAccountToken"`
				TerminationGracePeriodSeconds int   `yaml:"terminationGracePeriodSeconds"`
				SecurityContext               struct {
					RunAsNonRoot   *bool `yaml:"runAsNonRoot"`
					RunAsUser      int64 `yaml:"runAsUser"`
					RunAsGroup     int64 `yaml:"runAsGroup"`
					FSGroup        int64 `yaml:"fsGroup"`
					SeccompProfile struct {
						Type string `yaml:"type"`
					} `yaml:"seccompProfile"`
				} `yaml:"securityContext"`
				TopologySpreadConstraints []struct {
					MaxSkew           int           `yaml:"maxSkew"`
					TopologyKey       string        `yaml:"topologyKey"`
					WhenUnsatisfiable string        `yaml:"whenUnsatisfiable"`
					LabelSelector     labelSelector `yaml:"labelSelector"`
				} `yaml:"topologySpreadConstraints"`
				Containers []container `yaml:"containers"`
				Volumes    []struct {
					Name   string `yaml:"name"`
					Secret *struct {
						SecretName  string `yaml:"secretName"`
						DefaultMode int    `yaml:"defaultMode"`
					} `yaml:"secret"`
					EmptyDir *struct {
						SizeLimit string `yaml:"sizeLimit"`
						Medium    string `yaml:"medium"`
					} `yaml:"emptyDir"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// ---- quantities ----

// bytesOf reads a Kubernetes memory quantity (512Mi, 2Gi, 1000000) or a Go
// GOMEMLIMIT (384MiB).
func bytesOf(t *testing.T, q string) int64 {
	t.Helper()
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30},
		{"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"B", 1}}
	for _, u := range units {
		if strings.HasSuffix(q, u.suffix) {
			n, err := strconv.ParseInt(strings.TrimSuffix(q, u.suffix), 10, 64)
			if err != nil {
				t.Fatalf("quantity %q: %v", q, err)
			}
			return n * u.mult
		}
	}
	n, err := strconv.ParseInt(q, 10, 64)
	if err != nil {
		t.Fatalf("quantity %q: %v", q, err)
	}
	return n
}

// milliCPU reads a CPU quantity (250m, 2, 0.5).
func milliCPU(t *testing.T, q string) int64 {
	t.Helper()
	if strings.HasSuffix(q, "m") {
		n, err := strconv.ParseInt(strings.TrimSuffix(q, "m"), 10, 64)
		if err != nil {
			t.Fatalf("cpu %q: %v", q, err)
		}
		return n
	}
	f, err := strconv.ParseFloat(q, 64)
	if err != nil {
		t.Fatalf("cpu %q: %v", q, err)
	}
	return int64(f * 1000)
}

// ---- settings ----

// settingField returns the Config field whose env tag is name (without the
// prefix).
func settingField(name string) (reflect.StructField, bool) {
	rt := reflect.TypeOf(config.Config{})
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		if strings.Split(f.Tag.Get("env"), ",")[0] == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// requireSettings fails for every HITEXPORT_ variable of env that is not a
// setting of config.Config, or a NAME_FILE that config.Parse does not read
// into the setting NAME.
func requireSettings(t *testing.T, where string, env map[string]string) {
	t.Helper()
	for k := range env {
		if !strings.HasPrefix(k, config.Prefix) {
			continue
		}
		name := strings.TrimPrefix(k, config.Prefix)
		if _, ok := settingField(name); ok {
			continue
		}
		base, isFile := strings.CutSuffix(name, "_FILE")
		f, ok := settingField(base)
		if !isFile || !ok {
			t.Errorf("%s: %s is not a setting of config.Config", where, k)
			continue
		}
		// Prove that Parse reads NAME_FILE into NAME: a minimal valid
		// environment with NAME only in a file.
		file := filepath.Join(t.TempDir(), "value")
		if err := os.WriteFile(file, []byte("probe-value\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		probe := map[string]string{config.Prefix + "S3_ACCESS_KEY": "a", config.Prefix + "S3_SECRET_KEY": "s"}
		delete(probe, config.Prefix+base)
		probe[k] = file
		cfg, err := config.Parse(probe)
		if err != nil {
			t.Errorf("%s: %s: config.Parse with only it set: %v", where, k, err)
			continue
		}
		if got := reflect.ValueOf(*cfg).FieldByIndex(f.Index).String(); got != "probe-value" {
			t.Errorf("%s: %s is not read by config.Parse into %s (got %q)", where, k, base, got)
		}
	}
}

// ---- the Kubernetes manifests ----

const k8sDir = "kubernetes"

type k8sSet struct {
	byKind     map[string][]map[string]any
	deployment deployment
	configMap  map[string]string // data
	secret     map[string]string // stringData
}

func loadK8s(t *testing.T) *k8sSet {
	t.Helper()
	s := &k8sSet{byKind: map[string][]map[string]any{}}
	kz := docs(t, filepath.Join(k8sDir, "kustomization.yaml"))
	if len(kz) != 1 || str(kz[0], "kind") != "Kustomization" {
		t.Fatalf("kustomization.yaml: want one Kustomization, got %v", kz)
	}
	listed := map[string]bool{}
	for _, r := range get(kz[0], "resources").([]any) {
		listed[fmt.Sprint(r)] = true
	}
	files, _ := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	for _, f := range files {
		base := filepath.Base(f)
		if base == "kustomization.yaml" {
			continue
		}
		if !listed[base] {
			t.Errorf("kustomization.yaml does not list %s", base)
		}
		delete(listed, base)
		for _, d := range docs(t, f) {
			for _, k := range []string{"apiVersion", "kind"} {
				if str(d, k) == "" {
					t.Errorf("%s: a document without %s", base, k)
				}
			}
			if str(d, "metadata", "name") == "" {
				t.Errorf("%s: %s without metadata.name", base, str(d, "kind"))
			}
			if ns := str(d, "metadata", "namespace"); ns != "" {
				t.Errorf("%s: %s sets namespace %q; kustomization.yaml sets it for all", base, str(d, "kind"), ns)
			}
			s.byKind[str(d, "kind")] = append(s.byKind[str(d, "kind")], d)
			if str(d, "kind") == "Deployment" {
				strict(t, f, &s.deployment)
			}
		}
	}
	for r := range listed {
		t.Errorf("kustomization.yaml lists %s, which does not exist", r)
	}
	for kind, n := range map[string]int{"Deployment": 1, "ConfigMap": 1, "Secret": 1, "PodDisruptionBudget": 1,
		"Service": 1, "ServiceMonitor": 1} {
		if len(s.byKind[kind]) != n {
			t.Fatalf("want %d %s, found %d", n, kind, len(s.byKind[kind]))
		}
	}
	s.configMap = strMap(get(s.byKind["ConfigMap"][0], "data"))
	s.secret = strMap(get(s.byKind["Secret"][0], "stringData"))
	// kustomize's image override must name the Deployment's image.
	for _, im := range get(kz[0], "images").([]any) {
		if name := str(im, "name"); name != s.deployment.Spec.Template.Spec.Containers[0].Image {
			t.Errorf("kustomization.yaml overrides image %q; the container's image is %q", name,
				s.deployment.Spec.Template.Spec.Containers[0].Image)
		}
	}
	return s
}

// podEnv is the container's environment as the kubelet builds it, with the
// files of the Secret volume written under root and the paths rewritten.
func (s *k8sSet) podEnv(t *testing.T, root string) map[string]string {
	t.Helper()
	c := s.deployment.Spec.Template.Spec.Containers[0]
	env := map[string]string{}
	cmName := str(s.byKind["ConfigMap"][0], "metadata", "name")
	usesCM := false
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef != nil {
			if ef.ConfigMapRef.Name != cmName {
				t.Errorf("envFrom names ConfigMap %q; the ConfigMap is %q", ef.ConfigMapRef.Name, cmName)
			}
			usesCM = true
			for k, v := range s.configMap {
				env[k] = v
			}
		}
		if ef.SecretRef != nil {
			t.Errorf("envFrom secretRef: secrets go in as files, not variables")
		}
	}
	if !usesCM {
		t.Errorf("the container does not take its environment from the ConfigMap")
	}
	// Secret volume: mount path -> secret keys.
	secretName := str(s.byKind["Secret"][0], "metadata", "name")
	secretMounts := map[string]bool{}
	for _, v := range s.deployment.Spec.Template.Spec.Volumes {
		if v.Secret == nil {
			continue
		}
		if v.Secret.SecretName != secretName {
			t.Errorf("volume %s mounts Secret %q; the Secret is %q", v.Name, v.Secret.SecretName, secretName)
		}
		for _, m := range c.VolumeMounts {
			if m.Name == v.Name {
				secretMounts[m.MountPath] = true
				if !m.ReadOnly {
					t.Errorf("secret volume %s is mounted read-write", v.Name)
				}
			}
		}
	}
	if len(secretMounts) == 0 {
		t.Errorf("the Secret %q is not mounted", secretName)
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			t.Errorf("env %s uses valueFrom: secrets go in as files", e.Name)
			continue
		}
		v := e.Value
		if strings.HasSuffix(e.Name, "_FILE") {
			dir, key := filepath.Dir(v), filepath.Base(v)
			if !secretMounts[dir] {
				t.Errorf("env %s=%s is not in a mounted Secret volume", e.Name, v)
			}
			val, ok := s.secret[key]
			if !ok {
				t.Errorf("env %s=%s: the Secret has no key %q", e.Name, v, key)
			}
			v = filepath.Join(root, key)
			if err := os.WriteFile(v, []byte(val), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		env[e.Name] = v
	}
	return env
}

func portOf(t *testing.T, c container, p any) int {
	t.Helper()
	switch v := p.(type) {
	case int:
		return v
	case string:
		for _, cp := range c.Ports {
			if cp.Name == v {
				return cp.ContainerPort
			}
		}
		t.Errorf("port %q is not a named container port", v)
	}
	return -1
}

func TestKubernetes(t *testing.T) {
	s := loadK8s(t)
	d := s.deployment
	ps := d.Spec.Template.Spec
	if d.APIVersion != "apps/v1" || d.Spec.Replicas != 3 {
		t.Errorf("Deployment: apiVersion %q, replicas %d; want apps/v1, 3", d.APIVersion, d.Spec.Replicas)
	}
	if !subset(d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels) {
		t.Errorf("Deployment selector %v does not select its pods %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels)
	}
	if len(ps.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(ps.Containers))
	}
	c := ps.Containers[0]

	// The whole environment passes config.Parse, secrets read from files.
	root := t.TempDir()
	env := s.podEnv(t, root)
	requireSettings(t, "ConfigMap", s.configMap)
	requireSettings(t, "Deployment env", env)
	cfg, err := config.Parse(env)
	if err != nil {
		t.Fatalf("the pod's environment does not parse: %v", err)
	}
	if cfg.S3AccessKey != strings.TrimRight(s.secret["s3-access-key"], "\n") || cfg.S3SecretKey == "" {
		t.Errorf("the S3 keys are not read from the Secret's files")
	}
	for _, k := range []string{"HITEXPORT_S3_ACCESS_KEY", "HITEXPORT_S3_SECRET_KEY"} {
		if _, ok := env[k]; ok {
			t.Errorf("%s is set as a plain variable; use %s_FILE", k, k)
		}
	}

	// Probes and ports follow HTTP_ADDR.
	_, portStr, err := net.SplitHostPort(cfg.HTTPAddr)
	if err != nil {
		t.Fatalf("HTTP_ADDR %q: %v", cfg.HTTPAddr, err)
	}
	httpPort, _ := strconv.Atoi(portStr)
	named := false
	for _, p := range c.Ports {
		if p.ContainerPort == httpPort && p.Name != "" {
			named = true
		}
	}
	if !named {
		t.Errorf("no named container port %d (HTTP_ADDR %s)", httpPort, cfg.HTTPAddr)
	}
	for _, pr := range []struct {
		name string
		p    *probe
		path string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if pr.p == nil || pr.p.HTTPGet == nil {
			t.Errorf("%s probe: missing or not httpGet", pr.name)
			continue
		}
		if pr.p.HTTPGet.Path != pr.path || portOf(t, c, pr.p.HTTPGet.Port) != httpPort {
			t.Errorf("%s probe: %s on port %v, want %s on %d", pr.name, pr.p.HTTPGet.Path, pr.p.HTTPGet.Port, pr.path, httpPort)
		}
	}

	// Shutdown: the kubelet must not SIGKILL before the soft shutdown ends.
	grace := time.Duration(ps.TerminationGracePeriodSeconds) * time.Second
	if grace <= cfg.ShutdownTimeout+5*time.Second {
		t.Errorf("terminationGracePeriodSeconds %s must exceed SHUTDOWN_TIMEOUT %s by more than 5s", grace, cfg.ShutdownTimeout)
	}

	// Security: non-root, read-only root, the spool on an emptyDir.
	sc := ps.SecurityContext
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == 0 || sc.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("pod securityContext: want runAsNonRoot, a non-zero runAsUser, seccomp RuntimeDefault: %+v", sc)
	}
	csc := c.SecurityContext
	if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem || csc.AllowPrivilegeEscalation == nil ||
		*csc.AllowPrivilegeEscalation || !slices.Contains(csc.Capabilities.Drop, "ALL") {
		t.Errorf("container securityContext: want readOnlyRootFilesystem, no privilege escalation, drop ALL: %+v", csc)
	}
	if cfg.SpoolDir == "" {
		t.Errorf("SPOOL_DIR is not set: with a read-only root the spool needs a volume")
	}
	spoolOnEmptyDir := false
	for _, m := range c.VolumeMounts {
		for _, v := range ps.Volumes {
			if v.Name == m.Name && v.EmptyDir != nil && m.MountPath == cfg.SpoolDir {
				spoolOnEmptyDir = true
				if v.EmptyDir.SizeLimit == "" {
					t.Errorf("the spool emptyDir has no sizeLimit")
				}
			}
		}
	}
	if !spoolOnEmptyDir {
		t.Errorf("SPOOL_DIR %s is not the mount path of an emptyDir", cfg.SpoolDir)
	}

	// Resources: requests and limits, and GOMEMLIMIT below the limit.
	req, lim := c.Resources.Requests, c.Resources.Limits
	for _, k := range []string{"cpu", "memory"} {
		if req[k] == "" {
			t.Errorf("resources.requests.%s is not set", k)
		}
	}
	if lim["memory"] == "" {
		t.Fatalf("resources.limits.memory is not set")
	}
	if bytesOf(t, req["memory"]) > bytesOf(t, lim["memory"]) || (lim["cpu"] != "" && milliCPU(t, req["cpu"]) > milliCPU(t, lim["cpu"])) {
		t.Errorf("requests %v exceed limits %v", req, lim)
	}
	var gomem string
	for _, e := range c.Env {
		if e.Name == "GOMEMLIMIT" {
			gomem = e.Value
		}
	}
	if gomem == "" || bytesOf(t, gomem) >= bytesOf(t, lim["memory"]) {
		t.Errorf("GOMEMLIMIT %q must be set below the memory limit %s", gomem, lim["memory"])
	}
	// The spool's memory must fit: SPOOL_MEMORY per open object.
	if int64(cfg.SpoolMemory)*4 > bytesOf(t, lim["memory"])/4 {
		t.Errorf("SPOOL_MEMORY %d is large for a %s limit", cfg.SpoolMemory, lim["memory"])
	}

	// PodDisruptionBudget: one at a time, selecting the pods.
	pdb := s.byKind["PodDisruptionBudget"][0]
	if str(pdb, "apiVersion") != "policy/v1" || fmt.Sprint(get(pdb, "spec", "maxUnavailable")) != "1" {
		t.Errorf("PodDisruptionBudget: want policy/v1 with maxUnavailable 1: %v", pdb)
	}
	if !subset(strMap(get(pdb, "spec", "selector", "matchLabels")), d.Spec.Template.Metadata.Labels) {
		t.Errorf("the PodDisruptionBudget does not select the pods")
	}

	// Service and ServiceMonitor reach /metrics on the HTTP port.
	svc := s.byKind["Service"][0]
	if !subset(strMap(get(svc, "spec", "selector")), d.Spec.Template.Metadata.Labels) {
		t.Errorf("the Service does not select the pods")
	}
	svcPorts := map[string]bool{}
	for _, p := range get(svc, "spec", "ports").([]any) {
		tp := get(p, "targetPort")
		if portOf(t, c, tp) != httpPort {
			t.Errorf("Service port %v targets %v, not the HTTP port %d", str(p, "name"), tp, httpPort)
		}
		svcPorts[str(p, "name")] = true
	}
	sm := s.byKind["ServiceMonitor"][0]
	if str(sm, "apiVersion") != "monitoring.coreos.com/v1" {
		t.Errorf("ServiceMonitor apiVersion %q", str(sm, "apiVersion"))
	}
	if !subset(strMap(get(sm, "spec", "selector", "matchLabels")), strMap(get(svc, "metadata", "labels"))) {
		t.Errorf("the ServiceMonitor does not select the Service")
	}
	eps, _ := get(sm, "spec", "endpoints").([]any)
	if len(eps) == 0 {
		t.Fatalf("ServiceMonitor without endpoints")
	}
	for _, ep := range eps {
		if !svcPorts[str(ep, "port")] || str(ep, "path") != "/metrics" {
			t.Errorf("ServiceMonitor endpoint %v: want a Service port name and path /metrics", ep)
		}
	}
	t.Logf("pod env parses: %d settings; probes on :%d; grace %s > shutdown %s; memory %s/%s, GOMEMLIMIT %s",
		len(env), httpPort, grace, cfg.ShutdownTimeout, req["memory"], lim["memory"], gomem)
}

// ---- Docker ----

func TestCompose(t *testing.T) {
	d := docs(t, "docker-compose.yml")
	if len(d) != 1 {
		t.Fatalf("docker-compose.yml: %d documents", len(d))
	}
	services, _ := get(d[0], "services").(map[string]any)
	secrets, _ := get(d[0], "secrets").(map[string]any)
	for _, name := range []string{"kafka", "minio", "init-kafka", "init-minio", "hitexport"} {
		if services[name] == nil {
			t.Fatalf("compose: no service %q", name)
		}
	}
	for name, svc := range services {
		if str(svc, "image") == "" && get(svc, "build") == nil {
			t.Errorf("service %s has neither image nor build", name)
		}
		deps, _ := get(svc, "depends_on").(map[string]any)
		for dep := range deps {
			if services[dep] == nil {
				t.Errorf("service %s depends on %q, which is not a service", name, dep)
			}
		}
		for _, s := range asList(get(svc, "secrets")) {
			if secrets[s] == nil {
				t.Errorf("service %s uses secret %q, which is not defined", name, s)
			}
		}
		for _, v := range asList(get(svc, "volumes")) {
			src, _, ok := strings.Cut(v, ":")
			if ok && strings.HasPrefix(src, ".") {
				if _, err := os.Stat(src); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			}
		}
		if b := get(svc, "build"); b != nil {
			ctx := str(b, "context")
			df := filepath.Join(ctx, str(b, "dockerfile"))
			raw, err := os.ReadFile(df)
			if err != nil {
				t.Errorf("service %s builds %s: %v", name, df, err)
				continue
			}
			if target := str(b, "target"); target != "" && !regexp.MustCompile(`(?mi)^FROM .+ AS `+regexp.QuoteMeta(target)+`\s*$`).Match(raw) {
				t.Errorf("service %s builds target %q, not a stage of %s", name, target, df)
			}
			if _, err := os.Stat(filepath.Join(ctx, "go.mod")); err != nil {
				t.Errorf("service %s: build context %s is not the repository root", name, ctx)
			}
		}
	}
	secretFiles := map[string]string{}
	for name, s := range secrets {
		f := str(s, "file")
		b, err := os.ReadFile(f)
		if err != nil {
			t.Errorf("secret %s: %v", name, err)
		}
		secretFiles[name] = string(b)
	}

	// The exporter's (and hitgen's) environment parses, keys from the
	// secret files as mounted at /run/secrets/<name>.
	var cfg *config.Config
	for _, name := range []string{"hitexport", "hitgen"} {
		env := map[string]string{}
		root := t.TempDir()
		for k, v := range strMap(get(services[name], "environment")) {
			if p, ok := strings.CutPrefix(v, "/run/secrets/"); ok {
				val, ok := secretFiles[p]
				if !ok || !slices.Contains(asList(get(services[name], "secrets")), p) {
					t.Errorf("service %s: %s=%s is not a secret it mounts", name, k, v)
				}
				v = filepath.Join(root, p)
				if err := os.WriteFile(v, []byte(val), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			env[k] = v
		}
		requireSettings(t, "compose "+name, env)
		c, err := config.Parse(env)
		if err != nil {
			t.Fatalf("compose %s: environment does not parse: %v", name, err)
		}
		if name == "hitexport" {
			cfg = c
		}
	}

	// Kafka: the brokers are the kafka service's in-network listener.
	kafkaEnv := strMap(get(services["kafka"], "environment"))
	for _, b := range cfg.KafkaBrokers {
		host, port, _ := net.SplitHostPort(b)
		if services[host] == nil {
			t.Errorf("broker %s is not a service", b)
		}
		if !strings.Contains(kafkaEnv["KAFKA_ADVERTISED_LISTENERS"], "//"+host+":"+port) {
			t.Errorf("broker %s is not an advertised listener of kafka (%s)", b, kafkaEnv["KAFKA_ADVERTISED_LISTENERS"])
		}
	}
	// S3: the endpoint is the minio service on its API port.
	host, port, _ := net.SplitHostPort(cfg.S3Endpoint)
	if host != "minio" || port != "9000" {
		t.Errorf("S3 endpoint %s: want minio:9000", cfg.S3Endpoint)
	}
	// The init services make the topic and bucket the exporter uses.
	initKafka := strings.Join(asList(get(services["init-kafka"], "command")), " ")
	if !strings.Contains(initKafka, "--topic "+cfg.KafkaTopic+" ") || !strings.Contains(initKafka, "--bootstrap-server "+cfg.KafkaBrokers[0]) {
		t.Errorf("init-kafka (%s) does not create topic %q on %s", initKafka, cfg.KafkaTopic, cfg.KafkaBrokers[0])
	}
	initMinio := strings.Join(asList(get(services["init-minio"], "command")), " ")
	for _, want := range []string{"mc mb --ignore-existing local/" + cfg.S3Bucket, "mc admin policy create local hitexport /policies/hitexport-policy.json",
		"mc admin user add", "mc admin policy attach local hitexport"} {
		if !strings.Contains(initMinio, want) {
			t.Errorf("init-minio does not run %q", want)
		}
	}
	if !slices.Contains(asList(get(services["init-minio"], "volumes")), "./s3/hitexport-policy.json:/policies/hitexport-policy.json:ro") {
		t.Errorf("init-minio does not mount deploy/s3/hitexport-policy.json")
	}
	if got := policyBucket(t, "s3/hitexport-policy.json"); got != cfg.S3Bucket {
		t.Errorf("the policy is for bucket %q, compose uses %q", got, cfg.S3Bucket)
	}
	grace, err := time.ParseDuration(str(services["hitexport"], "stop_grace_period"))
	if err != nil || grace <= cfg.ShutdownTimeout {
		t.Errorf("stop_grace_period %q must exceed SHUTDOWN_TIMEOUT %s", str(services["hitexport"], "stop_grace_period"), cfg.ShutdownTimeout)
	}
	if get(services["hitexport"], "read_only") != true {
		t.Errorf("the exporter's container should be read_only")
	}
	if !slices.ContainsFunc(asList(get(services["hitexport"], "tmpfs")), func(s string) bool { return strings.HasPrefix(s, cfg.SpoolDir+":") || s == cfg.SpoolDir }) {
		t.Errorf("SPOOL_DIR %s is not a tmpfs of the read-only container", cfg.SpoolDir)
	}
}

func asList(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, x := range l {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

// dockerfile returns the logical lines (continuations joined) of the Dockerfile.
func dockerfile(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("docker", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	cur := ""
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		if c, ok := strings.CutSuffix(l, "\\"); ok {
			cur += c
			continue
		}
		cur += l
		if strings.TrimSpace(cur) != "" {
			lines = append(lines, strings.TrimSpace(cur))
		}
		cur = ""
	}
	return lines
}

// TestDockerfile checks the final stage and runs the Dockerfile's own go
// build commands (with its ENV) here: the binaries must build and be static.
func TestDockerfile(t *testing.T) {
	lines := dockerfile(t)
	var froms []string
	env := map[string]string{}
	var builds [][]string
	user, entry := "", ""
	for _, l := range lines {
		word, rest, _ := strings.Cut(l, " ")
		switch strings.ToUpper(word) {
		case "FROM":
			froms = append(froms, rest)
			user, entry = "", ""
		case "ENV":
			for _, kv := range strings.Fields(rest) {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
		case "USER":
			user = rest
		case "ENTRYPOINT":
			entry = rest
		case "RUN":
			for _, part := range strings.Split(rest, "&&") {
				part = strings.TrimSpace(part)
				if i := strings.Index(part, "go build "); i >= 0 {
					builds = append(builds, splitArgs(part[i:]))
				}
			}
		}
	}
	if len(froms) < 2 || !strings.HasPrefix(froms[0], "golang:") {
		t.Fatalf("want a golang build stage and a runtime stage, got FROM %v", froms)
	}
	final := froms[len(froms)-1]
	if !strings.HasPrefix(final, "gcr.io/distroless/static") && !strings.HasPrefix(final, "scratch") {
		t.Errorf("final stage %q: want distroless/static or scratch", final)
	}
	if !strings.HasPrefix(user, "65532") {
		t.Errorf("final stage runs as USER %q, want 65532", user)
	}
	if entry != `["/hitexport"]` {
		t.Errorf("final ENTRYPOINT %s, want [\"/hitexport\"]", entry)
	}
	if env["CGO_ENABLED"] != "0" {
		t.Errorf("the build stage does not set CGO_ENABLED=0")
	}
	if len(builds) == 0 {
		t.Fatalf("no go build command in the Dockerfile")
	}
	out := t.TempDir()
	repo, _ := filepath.Abs("..")
	built := 0
	for _, args := range builds {
		for i, a := range args {
			if a == "-o" && i+1 < len(args) {
				args[i+1] = filepath.Join(out, filepath.Base(args[i+1]))
			}
		}
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = repo
		cmd.Env = os.Environ()
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, b)
		}
		built++
	}
	bins, _ := filepath.Glob(filepath.Join(out, "*"))
	if len(bins) != built || !slices.ContainsFunc(bins, func(s string) bool { return filepath.Base(s) == "hitexport" }) {
		t.Fatalf("built %v", bins)
	}
	for _, b := range bins {
		f, err := elf.Open(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s has an ELF interpreter: not static", filepath.Base(b))
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("%s links %v: not static", filepath.Base(b), libs)
		}
		if f.Section(".debug_info") != nil || f.Section(".symtab") != nil {
			t.Errorf("%s keeps symbols or DWARF: -ldflags \"-s -w\" not applied", filepath.Base(b))
		}
		f.Close()
	}
}

// splitArgs splits a shell command line with double-quoted words.
func splitArgs(s string) []string {
	var out []string
	var cur strings.Builder
	inQ, have := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQ, have = !inQ, true
		case (r == ' ' || r == '\t') && !inQ:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}

// ---- Grafana ----

// registered returns the metric families pipeline.NewMetrics registers, with
// their label names, gathered from a prometheus.Registry after giving every
// vector one child; histogram families also stand for _bucket, _sum, _count.
func registered(t *testing.T) map[string]map[string]bool {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := pipeline.NewMetrics(reg, nil)
	rv := reflect.ValueOf(m).Elem()
	for i := 0; i < rv.NumField(); i++ {
		f := rv.Field(i)
		if !f.CanInterface() {
			continue
		}
		meth := f.MethodByName("GetMetricWithLabelValues")
		if !meth.IsValid() {
			continue
		}
		ok := false
		for n := 1; n <= 5 && !ok; n++ {
			args := make([]reflect.Value, n)
			for j := range args {
				args[j] = reflect.ValueOf("x")
			}
			res := meth.Call(args)
			ok = res[1].IsNil()
		}
		if !ok {
			t.Fatalf("could not make a child of %s", rv.Type().Field(i).Name)
		}
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]bool{}
	for _, fam := range fams {
		labels := map[string]bool{}
		for _, mt := range fam.GetMetric() {
			for _, lp := range mt.GetLabel() {
				labels[lp.GetName()] = true
			}
		}
		out[fam.GetName()] = labels
		if fam.GetType().String() == "HISTOGRAM" {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				l := map[string]bool{}
				for k := range labels {
					l[k] = true
				}
				if suf == "_bucket" {
					l["le"] = true
				}
				out[fam.GetName()+suf] = l
			}
		}
	}
	if len(fams) < 15 {
		t.Fatalf("only %d metric families gathered", len(fams))
	}
	return out
}

// exprs returns every PromQL expression of the dashboard (panel targets and
// variable queries).
func exprs(t *testing.T, dash map[string]any) []string {
	t.Helper()
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if s, ok := c.(string); ok && (k == "expr" || k == "definition") {
					out = append(out, s)
				}
				if k == "query" {
					if s, ok := c.(string); ok && strings.Contains(s, "hitexport_") {
						out = append(out, s)
					}
				}
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(dash)
	return out
}

var (
	metricRe = regexp.MustCompile(`\bhitexport_[a-z0-9_]+`)
	byRe     = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	legendRe = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)
)

func TestDashboard(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("grafana", "hitexport-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if str(dash, "title") == "" || str(dash, "uid") == "" {
		t.Errorf("dashboard without title or uid")
	}
	// A Prometheus data source variable, used by every panel.
	dsVar := ""
	for _, v := range get(dash, "templating", "list").([]any) {
		if str(v, "type") == "datasource" && str(v, "query") == "prometheus" {
			dsVar = str(v, "name")
		}
	}
	if dsVar == "" {
		t.Fatalf("no Prometheus data source variable")
	}
	have := registered(t)
	used := map[string]bool{}
	ids := map[string]bool{}
	targets, panels := 0, 0
	for _, p := range get(dash, "panels").([]any) {
		id := str(p, "id")
		if ids[id] {
			t.Errorf("panel id %s twice", id)
		}
		ids[id] = true
		if str(p, "type") == "row" {
			continue
		}
		panels++
		if uid := str(p, "datasource", "uid"); uid != "${"+dsVar+"}" {
			t.Errorf("panel %q: data source %q, want ${%s}", str(p, "title"), uid, dsVar)
		}
		if get(p, "gridPos") == nil {
			t.Errorf("panel %q has no gridPos", str(p, "title"))
		}
		ts, _ := get(p, "targets").([]any)
		if len(ts) == 0 {
			t.Errorf("panel %q has no query", str(p, "title"))
		}
		targets += len(ts)
		for _, tg := range ts {
			expr := str(tg, "expr")
			// Labels an expression may group by: those of its metrics and
			// the scrape labels.
			labels := map[string]bool{"instance": true, "job": true}
			for _, name := range metricRe.FindAllString(expr, -1) {
				l, ok := have[name]
				if !ok {
					t.Errorf("panel %q queries %s, which pipeline.NewMetrics does not register", str(p, "title"), name)
				}
				for k := range l {
					labels[k] = true
				}
				used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")] = true
			}
			for _, g := range byRe.FindAllStringSubmatch(expr, -1) {
				for _, l := range strings.Split(g[1], ",") {
					if l = strings.TrimSpace(l); l != "" && !labels[l] {
						t.Errorf("panel %q groups by %q, a label its metrics do not have: %s", str(p, "title"), l, expr)
					}
				}
			}
			for _, g := range legendRe.FindAllStringSubmatch(str(tg, "legendFormat"), -1) {
				if !labels[g[1]] {
					t.Errorf("panel %q: legend uses %q, a label its metrics do not have", str(p, "title"), g[1])
				}
			}
		}
	}
	for _, e := range exprs(t, dash) {
		for _, name := range metricRe.FindAllString(e, -1) {
			if _, ok := have[name]; !ok {
				t.Errorf("query %q uses %s, which pipeline.NewMetrics does not register", e, name)
			}
		}
	}
	var missing []string
	for name := range have {
		if strings.HasSuffix(name, "_bucket") || strings.HasSuffix(name, "_sum") || strings.HasSuffix(name, "_count") {
			if _, ok := have[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")]; ok {
				continue
			}
		}
		if !used[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("metrics not on the dashboard: %v", missing)
	}
	fams := 0
	for name := range have {
		if !strings.HasSuffix(name, "_bucket") && !strings.HasSuffix(name, "_sum") && !strings.HasSuffix(name, "_count") {
			fams++
		}
	}
	t.Logf("%d panels, %d queries; they use %d of the %d metric families", panels, targets, len(used), fams)
}

// ---- S3 policies ----

type policy struct {
	Version   string `json:"Version"`
	Statement []struct {
		Sid       string          `json:"Sid"`
		Effect    string          `json:"Effect"`
		Principal json.RawMessage `json:"Principal"`
		Action    []string        `json:"Action"`
		Resource  []string        `json:"Resource"`
		Condition json.RawMessage `json:"Condition"`
	} `json:"Statement"`
}

func readPolicy(t *testing.T, path string) policy {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p policy
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return p
}

// policyBucket returns the one bucket a policy names.
func policyBucket(t *testing.T, path string) string {
	t.Helper()
	buckets := map[string]bool{}
	for _, st := range readPolicy(t, path).Statement {
		for _, r := range st.Resource {
			b, _, _ := strings.Cut(strings.TrimPrefix(r, "arn:aws:s3:::"), "/")
			buckets[b] = true
		}
	}
	if len(buckets) != 1 {
		t.Fatalf("%s names buckets %v, want one", path, buckets)
	}
	for b := range buckets {
		return b
	}
	return ""
}

// TestPolicies checks the least-privilege policies: the actions hitexport
// needs (see docs/deployment.md) and no more, the same grants in the bucket
// policy and the user policy, for the bucket the manifests configure.
// itest/policy_test.go shows on a real S3 server that they are enough and
// that each action is needed.
func TestPolicies(t *testing.T) {
	allowed := map[string]bool{"s3:ListBucket": true, "s3:PutObject": true, "s3:GetObject": true, "s3:DeleteObject": true}
	grants := map[string]map[string]bool{}
	for _, file := range []string{"bucket-policy.json", "hitexport-policy.json"} {
		path := filepath.Join("s3", file)
		p := readPolicy(t, path)
		if p.Version != "2012-10-17" || len(p.Statement) == 0 {
			t.Errorf("%s: version %q, %d statements", file, p.Version, len(p.Statement))
		}
		bucket := policyBucket(t, path)
		g := map[string]bool{}
		for _, st := range p.Statement {
			if st.Effect != "Allow" || st.Condition != nil {
				t.Errorf("%s %s: want a plain Allow", file, st.Sid)
			}
			isBucketPolicy := file == "bucket-policy.json"
			if (len(st.Principal) > 0) != isBucketPolicy {
				t.Errorf("%s %s: a Principal belongs in the bucket policy only", file, st.Sid)
			}
			for _, a := range st.Action {
				if !allowed[a] {
					t.Errorf("%s: action %s is more than hitexport needs", file, a)
				}
				for _, r := range st.Resource {
					object := strings.Contains(r, "/")
					switch {
					case a == "s3:ListBucket" && r != "arn:aws:s3:::"+bucket:
						t.Errorf("%s: s3:ListBucket on %s, want the bucket", file, r)
					case a != "s3:ListBucket" && !object:
						t.Errorf("%s: %s on the bucket, want objects", file, a)
					case a == "s3:DeleteObject" && r != "arn:aws:s3:::"+bucket+"/hitexport-check/*" && r != "arn:aws:s3:::"+bucket+"/_hitexport/*":
						t.Errorf("%s: s3:DeleteObject on %s: only check's test objects (hitexport-check/*) and the window layout's own objects (_hitexport/*) may be deleted", file, r)
					}
					g[a+" "+r] = true
				}
			}
		}
		for a := range allowed {
			found := false
			for k := range g {
				found = found || strings.HasPrefix(k, a+" ")
			}
			if !found {
				t.Errorf("%s does not grant %s", file, a)
			}
		}
		grants[file] = g
	}
	if !reflect.DeepEqual(grants["bucket-policy.json"], grants["hitexport-policy.json"]) {
		t.Errorf("the two policies grant different things:\n%v\n%v", grants["bucket-policy.json"], grants["hitexport-policy.json"])
	}
	s := loadK8s(t)
	if b := policyBucket(t, filepath.Join("s3", "hitexport-policy.json")); b != s.configMap["HITEXPORT_S3_BUCKET"] {
		t.Errorf("the policies are for bucket %q; the ConfigMap uses %q", b, s.configMap["HITEXPORT_S3_BUCKET"])
	}
}

// TestAllYAMLParses parses every YAML file under deploy/.
func TestAllYAMLParses(t *testing.T) {
	n := 0
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			if len(docs(t, path)) == 0 {
				t.Errorf("%s: no YAML document", path)
			}
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 8 {
		t.Errorf("only %d YAML files under deploy/", n)
	}
}
