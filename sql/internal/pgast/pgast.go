// Package pgast walks PostgreSQL parse trees (pg_query_go's protobuf
// messages) for the SQL engine and driver.
package pgast

import "google.golang.org/protobuf/reflect/protoreflect"

// Walk calls fn on m and every message under it, depth first; when fn
// returns false the walk does not descend into that message.
func Walk(m protoreflect.Message, fn func(protoreflect.Message) bool) {
	if !fn(m) {
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				Walk(l.Get(i).Message(), fn)
			}
		case fd.Message() != nil && !fd.IsMap():
			Walk(v.Message(), fn)
		}
		return true
	})
}
