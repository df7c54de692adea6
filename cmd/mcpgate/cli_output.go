package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"
)

// output is the value of -o/--output: text (default) or json. Other values
// fail flag parsing, hence are usage errors.
type output string

const (
	textOutput output = "text"
	jsonOutput output = "json"
)

func (o *output) String() string { return string(*o) }
func (o *output) Type() string   { return "format" }
func (o *output) Set(s string) error {
	switch v := output(s); v {
	case textOutput, jsonOutput:
		*o = v
		return nil
	}
	return errors.New(`want "text" or "json"`)
}

// addOutputFlag adds -o/--output to cmd and returns where its value lands.
func addOutputFlag(cmd *cobra.Command) *output {
	o := textOutput
	cmd.Flags().VarP(&o, "output", "o", "output format: text or json")
	return &o
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// table starts an aligned table on w; call Flush when done.
func table(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// cell makes a value from the gateway safe for one table cell: empty becomes
// "-", and control characters (tabs, newlines, terminal escapes) become '?'.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}

// list is cell for a list of names.
func list(names []string) string { return cell(strings.Join(names, ",")) }

// timestamp formats t in UTC, to the second.
func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// optTimestamp formats t, or says none when it is nil.
func optTimestamp(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return timestamp(*t)
}
