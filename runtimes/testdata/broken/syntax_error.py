# Conformance fixture: a syntax error must fail at start (it is not compiled at build).
def handle(event, context)
    return "never"
