// helm-render renders a Helm chart the way `helm template` does, for tests on machines where
// no helm binary can be installed. It is built on the same engine Helm uses: Go's text/template
// with the Sprig function library (Debian's golang-github-masterminds-sprig-dev) plus Helm's own
// additions (include, tpl, required, toYaml, fromYaml, toJson, lookup stubbed, .Files.Get,
// .Capabilities.APIVersions.Has). It covers what this project's chart uses; it is not a general
// Helm replacement.
//
//	helm-render -chart DIR -name RELEASE -namespace NS [-f values.yaml ...] [-set a.b=c ...]
//	            [-kube-version v1.29.0] [-api-versions monitoring.coreos.com/v1 ...]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	sprig "github.com/Masterminds/sprig/v3"
	"sigs.k8s.io/yaml"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func readYAML(path string) map[string]interface{} {
	data, err := os.ReadFile(path)
	if err != nil {
		fail("read %s: %v", path, err)
	}
	out := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &out); err != nil {
		fail("parse %s: %v", path, err)
	}
	return out
}

// apiVersions is .Capabilities.APIVersions: the group/versions (and group/version/Kind) the
// cluster serves, as Helm's chartutil.VersionSet.
type apiVersions []string

// Has says whether the cluster serves the group/version (or group/version/Kind).
func (v apiVersions) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

// chartFiles is .Files: the chart's files outside templates/, read on demand.
type chartFiles struct{ root string }

// Get returns a file's content, or "" when it does not exist (as Helm does).
func (f chartFiles) Get(name string) string {
	data, err := os.ReadFile(filepath.Join(f.root, filepath.FromSlash(name)))
	if err != nil {
		return ""
	}
	return string(data)
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "helm-render: "+format+"\n", args...)
	os.Exit(1)
}

// merge overlays src onto dst, recursively for maps (Helm's coalescing of values files).
func merge(dst, src map[string]interface{}) map[string]interface{} {
	for k, v := range src {
		if sm, ok := v.(map[string]interface{}); ok {
			if dm, ok := dst[k].(map[string]interface{}); ok {
				dst[k] = merge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

// setPath applies one --set a.b.c=value (value parsed as YAML, like Helm's typed scalars).
func setPath(values map[string]interface{}, assignment string) {
	eq := strings.Index(assignment, "=")
	if eq < 0 {
		fail("--set %q: want key=value", assignment)
	}
	var value interface{}
	if err := yaml.Unmarshal([]byte(assignment[eq+1:]), &value); err != nil {
		value = assignment[eq+1:]
	}
	keys := strings.Split(assignment[:eq], ".")
	m := values
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]interface{})
		if !ok {
			next = map[string]interface{}{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = value
}

// kubeVersionOf is .Capabilities.KubeVersion for "v1.29.3".
func kubeVersionOf(v string) map[string]interface{} {
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		fail("-kube-version %q: want vMAJOR.MINOR.PATCH", v)
	}
	return map[string]interface{}{"Version": v, "GitVersion": v, "Major": parts[0], "Minor": parts[1]}
}

func main() {
	chart := flag.String("chart", "", "chart directory")
	name := flag.String("name", "release", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	kubeVersion := flag.String("kube-version", "v1.20.2", "the cluster's version, as .Capabilities.KubeVersion")
	var files, sets, apis multi
	flag.Var(&files, "f", "values file (repeatable)")
	flag.Var(&sets, "set", "key=value (repeatable)")
	flag.Var(&apis, "api-versions", "a group/version the cluster serves, as .Capabilities.APIVersions (repeatable)")
	flag.Parse()
	if *chart == "" {
		fail("-chart is required")
	}
	values := readYAML(filepath.Join(*chart, "values.yaml"))
	for _, f := range files {
		values = merge(values, readYAML(f))
	}
	for _, s := range sets {
		setPath(values, s)
	}
	meta := readYAML(filepath.Join(*chart, "Chart.yaml"))
	chartData := map[string]interface{}{}
	for k, v := range meta {
		chartData[strings.ToUpper(k[:1])+k[1:]] = v
	}
	top := map[string]interface{}{
		"Values":       values,
		"Chart":        chartData,
		"Release":      map[string]interface{}{"Name": *name, "Namespace": *namespace, "Service": "Helm", "IsInstall": true, "IsUpgrade": false, "Revision": 1},
		"Capabilities": map[string]interface{}{"KubeVersion": kubeVersionOf(*kubeVersion), "APIVersions": apiVersions(apis)},
		"Files":        chartFiles{root: *chart},
		"Template":     map[string]interface{}{"BasePath": *chart + "/templates"},
	}

	root := template.New("chart")
	funcs := sprig.TxtFuncMap()
	funcs["toYaml"] = func(v interface{}) string {
		out, err := yaml.Marshal(v)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(string(out), "\n")
	}
	funcs["fromYaml"] = func(s string) map[string]interface{} {
		out := map[string]interface{}{}
		_ = yaml.Unmarshal([]byte(s), &out)
		return out
	}
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil || v == "" {
			return nil, fmt.Errorf("%s", msg)
		}
		return v, nil
	}
	funcs["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		err := root.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := root.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		err = t.Execute(&buf, data)
		return buf.String(), err
	}
	funcs["lookup"] = func(...interface{}) map[string]interface{} { return map[string]interface{}{} }
	root.Funcs(funcs).Option("missingkey=zero")

	// Every file under templates/, subfolders too (templates/tests holds the helm test hooks).
	var paths []string
	_ = filepath.Walk(filepath.Join(*chart, "templates"), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			paths = append(paths, p)
		}
		return nil
	})
	sort.Strings(paths)
	var renderable []string
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			fail("read %s: %v", p, err)
		}
		rel, _ := filepath.Rel(*chart, p)
		if _, err := root.New(rel).Parse(string(data)); err != nil {
			fail("parse %s: %v", rel, err)
		}
		base := filepath.Base(p)
		if !strings.HasPrefix(base, "_") && strings.HasSuffix(base, ".yaml") {
			renderable = append(renderable, rel)
		}
	}
	var out bytes.Buffer
	for _, rel := range renderable {
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, rel, top); err != nil {
			fail("render %s: %v", rel, err)
		}
		text := strings.TrimSpace(buf.String())
		if text == "" {
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", rel, text)
	}
	os.Stdout.Write(out.Bytes())
}
