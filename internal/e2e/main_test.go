package e2e

import (
	"testing"

	"github.com/mcpgate/mcpgate/internal/e2e/gatewaytest"
)

func TestMain(m *testing.M) { gatewaytest.Main(m) }
