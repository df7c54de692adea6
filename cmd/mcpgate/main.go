// Command mcpgate runs the MCP gateway (mcpgate serve) and administers a
// running one through its admin API: upstream servers, grants, and
// ready-to-paste client configuration.
//
// The admin commands find the gateway at MCPGATE_URL (default
// http://127.0.0.1:8080) and authenticate with MCPGATE_ADMIN_TOKEN, or with
// the admin-token file in MCPGATE_DATA_DIR (default ./mcpgate-data).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the CLI with args and returns the exit code: 0 on success,
// 2 for a usage error, 1 for any other error. Tests call it in-process.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "mcpgate: %v\n", err)
	if h := hint(err); h != "" {
		fmt.Fprintln(stderr, h)
	}
	var usage usageError
	if errors.As(err, &usage) {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return 2
	}
	return 1
}

func newRootCmd() *cobra.Command {
	root := groupCmd("mcpgate", "A gateway that gives MCP clients governed access to upstream MCP servers",
		newServeCmd(),
		newServerCmd(),
		newGrantCmd(),
		newClientConfigCmd(),
		newConnectCmd(),
		newConnectionCmd(),
		newUserCmd(),
		newKeysCmd(),
		newPolicyCmd(),
		newAuditCmd(),
		newVersionCmd(),
	)
	root.SilenceUsage = true
	root.SilenceErrors = true
	root.Version = versionString()
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	return root
}
