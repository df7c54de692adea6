package mcpgate_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// goPackages maps each directory holding non-test Go files to those files.
func goPackages(t *testing.T) map[string][]string {
	t.Helper()
	pkgs := map[string][]string{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != "." || d.Name() == "node_modules" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			pkgs[filepath.Dir(path)] = append(pkgs[filepath.Dir(path)], path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// Every package has exactly one package doc comment.
func TestOnePackageDocPerPackage(t *testing.T) {
	for dir, files := range goPackages(t) {
		var docs []string
		for _, f := range files {
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if af.Doc != nil {
				docs = append(docs, f)
			}
		}
		if len(docs) != 1 {
			t.Errorf("package %s has %d package doc comments (%v), want exactly 1", dir, len(docs), docs)
		}
	}
}

// Dependencies point inward: the core uses only the standard library and
// neither net/http nor database/sql; nothing but cmd wires adapters together
// through cmd; no catch-all packages.
func TestDependencyDirection(t *testing.T) {
	const module = "github.com/mcpgate/mcpgate"
	for dir, files := range goPackages(t) {
		for _, f := range files {
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range af.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if dir == "." {
					first, _, _ := strings.Cut(path, "/")
					if strings.Contains(first, ".") {
						t.Errorf("core file %s imports %s: the core uses the standard library only", f, path)
					}
					if path == "net/http" || path == "database/sql" {
						t.Errorf("core file %s imports %s", f, path)
					}
				}
				if strings.HasPrefix(path, module+"/cmd") {
					t.Errorf("%s imports %s: nothing imports cmd", f, path)
				}
				for _, bad := range []string{"/util", "/utils", "/common", "/helpers"} {
					if strings.HasPrefix(path, module) && strings.HasSuffix(path, bad) {
						t.Errorf("%s imports a catch-all package %s", f, path)
					}
				}
			}
		}
	}
	if _, err := os.Stat("go.mod"); err != nil {
		t.Fatal("run from the module root")
	}
}
