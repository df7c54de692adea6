package policy

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"
)

// celEnv is the one CEL environment every policy compiles against. A cel.Env
// is safe for concurrent use.
var celEnv = sync.OnceValues(func() (*cel.Env, error) {
	opts := []cel.EnvOption{
		cel.CustomTypeAdapter(celAdapter),
		cel.Variable("args", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("user", cel.StringType),
		cel.Variable("grant", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("server", cel.StringType),
		cel.Variable("tool", cel.StringType),
		cel.Variable("method", cel.StringType),
		cel.Variable("now", cel.TimestampType),
		cel.CrossTypeNumericComparisons(true),
		cel.DefaultUTCTimeZone(true),
	}
	return cel.NewEnv(append(opts, zoneOverloads()...)...)
})

// compile type-checks expr, requires it to be boolean and plans it. usesArgs
// reports whether the condition reads args.
func compile(expr string) (prog cel.Program, usesArgs bool, err error) {
	env, err := celEnv()
	if err != nil {
		return nil, false, err
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, false, iss.Err()
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, false, errors.New("condition must be boolean, not " + ast.OutputType().String())
	}
	for _, r := range ast.NativeRep().ReferenceMap() {
		if r.Name == "args" {
			usesArgs = true
		}
	}
	prog, err = env.Program(ast, cel.EvalOptions(cel.OptOptimize))
	return prog, usesArgs, err
}

// argAdapter makes every number a CEL double, whatever its Go type, so that a
// condition sees the same type for 150 and 150.5. Maps and lists are wrapped
// lazily: only the values a condition reads are converted.
type argAdapter struct{ types.Adapter }

func (a argAdapter) NativeToValue(v any) ref.Val {
	switch v := v.(type) {
	case ref.Val:
		return v
	case string:
		return types.String(v)
	case bool:
		return types.Bool(v)
	case nil:
		return types.NullValue
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) { // out of range: ±Inf, which compares right
			return types.NewErr("invalid number %q", string(v))
		}
		return types.Double(f)
	case float64:
		return types.Double(v)
	case float32:
		return types.Double(v)
	case int:
		return types.Double(v)
	case int64:
		return types.Double(v)
	case int32:
		return types.Double(v)
	case uint:
		return types.Double(v)
	case uint64:
		return types.Double(v)
	case uint32:
		return types.Double(v)
	case map[string]any:
		return types.NewStringInterfaceMap(a, v)
	case []any:
		return types.NewDynamicList(a, v)
	}
	return a.Adapter.NativeToValue(v)
}

// activation resolves the condition variables of one decision. Values are
// built on first use and shared by every condition of the decision;
// activations are pooled so a decision allocates only what its conditions
// read.
type activation struct {
	in     Input
	args   argsValue
	user   ref.Val
	server ref.Val
	tool   ref.Val
	method ref.Val
	grant  ref.Val
	now    ref.Val
}

var _ interpreter.Activation = (*activation)(nil)

var activations = sync.Pool{New: func() any { return new(activation) }}

var emptyArgs = map[string]any{}

// celAdapter converts argument values for CEL.
var celAdapter = argAdapter{types.DefaultTypeAdapter}

// argsValue is args as conditions see it: a CEL map whose top-level values
// are converted once per decision, however many conditions read them. It
// lives in the pooled activation.
type argsValue struct {
	m     map[string]any
	cache [8]struct {
		key string
		val ref.Val
	}
	n    int
	base traits.Mapper // built on first use, for the rest of the interface
}

var _ traits.Mapper = (*argsValue)(nil)

func (v *argsValue) baseMap() traits.Mapper {
	if v.base == nil {
		v.base = types.NewStringInterfaceMap(celAdapter, v.m)
	}
	return v.base
}

// Find implements traits.Mapper.
func (v *argsValue) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return v.baseMap().Find(key)
	}
	for i := range v.n {
		if v.cache[i].key == string(k) {
			return v.cache[i].val, true
		}
	}
	raw, found := v.m[string(k)]
	if !found {
		return nil, false
	}
	val := celAdapter.NativeToValue(raw)
	if v.n < len(v.cache) {
		v.cache[v.n].key, v.cache[v.n].val = string(k), val
		v.n++
	}
	return val, true
}

// Get implements traits.Indexer.
func (v *argsValue) Get(key ref.Val) ref.Val {
	if val, found := v.Find(key); found {
		return val
	}
	return v.baseMap().Get(key) // the error for a missing key or a bad key type
}

// Contains implements traits.Container.
func (v *argsValue) Contains(key ref.Val) ref.Val {
	val, found := v.Find(key)
	if !found && val != nil && types.IsUnknownOrError(val) {
		return val
	}
	return types.Bool(found)
}

func (v *argsValue) Iterator() traits.Iterator { return v.baseMap().Iterator() }
func (v *argsValue) Size() ref.Val             { return types.Int(len(v.m)) }
func (v *argsValue) Type() ref.Type            { return types.MapType }
func (v *argsValue) Value() any                { return v.m }
func (v *argsValue) IsZeroValue() bool         { return len(v.m) == 0 }
func (v *argsValue) Equal(other ref.Val) ref.Val {
	return v.baseMap().Equal(other)
}
func (v *argsValue) ConvertToNative(t reflect.Type) (any, error) {
	return v.baseMap().ConvertToNative(t)
}
func (v *argsValue) ConvertToType(t ref.Type) ref.Val { return v.baseMap().ConvertToType(t) }

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "args":
		if a.args.m == nil {
			a.args.m = a.in.Args
			if a.args.m == nil {
				a.args.m = emptyArgs
			}
		}
		return &a.args, true
	case "user":
		return lazyString(&a.user, a.in.User), true
	case "server":
		return lazyString(&a.server, a.in.Server), true
	case "tool":
		return lazyString(&a.tool, a.in.Name), true
	case "method":
		m := a.in.Method
		if m == "" {
			m = MethodToolsCall
		}
		return lazyString(&a.method, m), true
	case "grant":
		if a.grant == nil {
			a.grant = types.NewStringStringMap(types.DefaultTypeAdapter,
				map[string]string{"id": a.in.GrantID, "label": a.in.GrantLabel})
		}
		return a.grant, true
	case "now":
		if a.now == nil {
			a.now = types.Timestamp{Time: a.in.Now}
		}
		return a.now, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

func lazyString(v *ref.Val, s string) ref.Val {
	if *v == nil {
		*v = types.String(s)
	}
	return *v
}

// eval runs prog. A non-boolean result is an error.
func (a *activation) eval(prog cel.Program) (bool, error) {
	out, _, err := prog.Eval(a)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, errors.New("condition did not yield a boolean")
	}
	return bool(b), nil
}

func (a *activation) release() {
	*a = activation{}
	activations.Put(a)
}
