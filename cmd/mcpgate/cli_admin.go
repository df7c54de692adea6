package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/adminclient"
	"github.com/mcpgate/mcpgate/internal/config"
)

// defaultURL is where the admin commands look for the gateway without MCPGATE_URL.
const defaultURL = "http://" + config.DefaultAddr

// gatewayURL is the gateway's base URL from MCPGATE_URL, or the default.
func gatewayURL() string {
	if v := os.Getenv("MCPGATE_URL"); v != "" {
		return v
	}
	return defaultURL
}

// newAdminClient returns an admin API client configured from the environment.
func newAdminClient() (*adminclient.Client, error) {
	token, err := adminToken()
	if err != nil {
		return nil, err
	}
	return adminclient.New(gatewayURL(), token, &http.Client{Timeout: 30 * time.Second}), nil
}

// adminToken is MCPGATE_ADMIN_TOKEN or, without it, the admin-token file the
// gateway writes in its data dir.
func adminToken() (string, error) {
	if v := os.Getenv("MCPGATE_ADMIN_TOKEN"); v != "" {
		return v, nil
	}
	dir := os.Getenv("MCPGATE_DATA_DIR")
	if dir == "" {
		dir = config.DefaultDataDir
	}
	path := filepath.Join(dir, "admin-token")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no admin token: set MCPGATE_ADMIN_TOKEN, or set MCPGATE_DATA_DIR to the gateway's data dir (there is no %s)", path)
	}
	if err != nil {
		return "", fmt.Errorf("read admin token: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("admin token file %s is empty; set MCPGATE_ADMIN_TOKEN", path)
	}
	return token, nil
}

// hint is an extra line for errors a user can fix by configuration.
func hint(err error) string {
	var apiErr *adminclient.APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized {
		return "The gateway refused the admin token: check MCPGATE_ADMIN_TOKEN (or the admin-token file in MCPGATE_DATA_DIR)."
	}
	return ""
}
