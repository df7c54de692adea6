package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newKeysCmd() *cobra.Command {
	return groupCmd("keys", "Manage the keys that seal secrets and tokens at rest",
		newKeysRotateCmd(),
	)
}

func newKeysRotateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Re-wrap every sealed value under the primary key",
		Long: `Re-wrap every sealed value (header values, OAuth client secrets, tokens)
under the gateway's primary key. Run it once the new primary key is in every
gateway's configuration; afterwards no stored value needs an older key.`,
		Args: exactArgs(),
	}
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := newAdminClient()
		if err != nil {
			return err
		}
		res, err := c.RotateKeys(cmd.Context())
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		if *out == jsonOutput {
			return writeJSON(w, res)
		}
		values := "values"
		if res.Rewrapped == 1 {
			values = "value"
		}
		fmt.Fprintf(w, "Re-wrapped %d sealed %s under primary key %s.\n", res.Rewrapped, values, cell(res.PrimaryKeyID))
		return nil
	}
	return cmd
}
