# Conformance fixture: nested handler (FAAS_HANDLER=pkg.mod.handle). Prints at import on
# stdout, which check mode must keep off its stdout.
print("pkg.mod imported")


def handle(event, context):
    return {"nested": True, "module": __name__}
