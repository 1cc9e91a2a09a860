# How template.yaml's functions and layer are built: `sam build` (BuildMethod: makefile) and `npm run build`
# both run `make build-<LogicalId>` in this folder with ARTIFACTS_DIR set, so there is one build definition.
# It uses the project's own esbuild (installed by `npm ci`): no npm install per function, nothing on PATH.
ESBUILD := node_modules/.bin/esbuild
# The Lambda Node.js runtime ships AWS SDK v3; source maps need NODE_OPTIONS=--enable-source-maps (template).
BUNDLE := $(ESBUILD) --bundle --platform=node --format=cjs --target=node22 --minify --sourcemap \
	'--external:@aws-sdk/*' --log-level=warning
LAYER_PACKAGE := $(ARTIFACTS_DIR)/nodejs/node_modules/chat-core

# functions/<name>/index.ts -> <artifacts>/index.js; chat-core comes from the layer. ConnectFunction -> connect.
build-%Function:
	$(BUNDLE) --external:chat-core functions/$(shell echo '$*' | tr A-Z a-z)/index.ts --outfile="$(ARTIFACTS_DIR)/index.js"

# The layer, at the path Lambda puts on the module path. Its map names files and lines without embedding
# the sources (a third of the size).
build-ChatCoreLayer:
	$(BUNDLE) --sources-content=false layers/chat-core/src/index.ts --outfile="$(LAYER_PACKAGE)/index.js"
	cp layers/chat-core/package.json "$(LAYER_PACKAGE)/package.json"
