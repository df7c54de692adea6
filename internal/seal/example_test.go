package seal_test

import (
	"fmt"

	"github.com/mcpgate/mcpgate/internal/seal"
)

func Example() {
	// In production the keys come from a key file: LoadOrCreateKeyring.
	keys, err := seal.NewKeyring(seal.GenerateKey())
	if err != nil {
		panic(err)
	}
	// The record identity is the additional data: the value opens only for it.
	aad := []byte("upstream_token/conn-42")
	sealed, _ := keys.Seal([]byte("gho_example"), aad)

	token, _ := keys.Open(sealed, aad)
	fmt.Println(string(token))

	_, err = keys.Open(sealed, []byte("upstream_token/conn-43"))
	fmt.Println(err != nil)
	// Output:
	// gho_example
	// true
}
