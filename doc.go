// Package mcpgate is the domain core of the gateway: upstream servers, grants,
// sessions, the grant-token format, the store contract and the sentinel errors
// every adapter returns. It imports only the standard library; adapters
// (sqlite, postgres, httpapi, proxy …) live under internal/ and depend on it,
// never the other way round.
package mcpgate
