// GraphiQL for Segments, with nothing from the internet: every script is served by the service.
// Queries and mutations go over HTTP POST, subscriptions over the WebSocket (graphql-ws, the
// graphql-transport-ws protocol) with the Headers tab's Authorization in connection_init.
// The headers (the API key) stay in the page unless it is opened with ?persistHeaders=true:
// GraphiQL's own option keeps them out of its tabs, and the storage given to it strips them
// from everything else it saves (the history and favourites keep each query's headers).
(function () {
  "use strict";
  var page = new URL(window.location.href);
  var url = page.origin + page.pathname;
  var wsUrl = url.replace(/^http/, "ws");
  var persistHeaders = page.searchParams.get("persistHeaders") === "true";
  var clients = {};

  // every "headers" member of the saved value, at any depth, removed
  function withoutHeaders(value) {
    if (Array.isArray(value)) return value.map(withoutHeaders);
    if (value === null || typeof value !== "object") return value;
    var copy = {};
    Object.keys(value).forEach(function (name) {
      if (name !== "headers") copy[name] = withoutHeaders(value[name]);
    });
    return copy;
  }

  // localStorage as GraphiQL's storage, but what it saves keeps no headers unless asked to
  var storage = {
    getItem: function (key) { return window.localStorage.getItem(key); },
    setItem: function (key, value) {
      if (!persistHeaders) {
        if (key === "graphiql:headers") return;
        try {
          value = JSON.stringify(withoutHeaders(JSON.parse(value)));
        } catch (e) {
          // not JSON (a query's text, a tab's name): no headers in it
        }
      }
      window.localStorage.setItem(key, value);
    },
    removeItem: function (key) { window.localStorage.removeItem(key); },
    clear: function () {
      Object.keys(window.localStorage).forEach(function (key) {
        if (key.indexOf("graphiql:") === 0) window.localStorage.removeItem(key);
      });
    },
    get length() {
      return Object.keys(window.localStorage).filter(function (key) {
        return key.indexOf("graphiql:") === 0;
      }).length;
    },
  };
  if (!persistHeaders) storage.removeItem("graphiql:headers"); // left by an earlier opening

  // a close the server means (4400 bad message, 4401 unauthorised, 4403 forbidden, ...):
  // trying again cannot help, so it ends the subscription at once
  function isFinal(closed) {
    return !!closed && typeof closed.code === "number" && closed.code >= 4400 && closed.code < 4500;
  }

  // what the result pane shows for a failure: a close event is its code and reason
  function readable(error) {
    if (error && typeof error.code === "number" && "reason" in error) {
      return [{ message: error.code + ": " + (error.reason || "the connection was closed") }];
    }
    if (Array.isArray(error)) return error; // GraphQL errors, as the server sent them
    if (error instanceof Error) return [{ message: error.message }];
    return [{ message: String(error) }];
  }

  function wsClient(headers) {
    var key = JSON.stringify(headers || {});
    if (!clients[key]) {
      clients[key] = graphqlWs.createClient({
        url: wsUrl,
        connectionParams: headers || {},
        lazy: true,
        shouldRetry: function (closed) { return !isFinal(closed); },
        retryAttempts: 5,
      });
    }
    return clients[key];
  }

  function isSubscription(params) {
    var query = params.query || "";
    var name = params.operationName;
    // the operation to run: the named one, or the only one
    var pattern = /(^|[^\w])(query|mutation|subscription)(\s+([_A-Za-z][_0-9A-Za-z]*))?/g;
    var found = [];
    var match;
    var stripped = query.replace(/#[^\n]*/g, "").replace(/"""[\s\S]*?"""|"(?:\\.|[^"\\])*"/g, '""');
    while ((match = pattern.exec(stripped)) !== null) {
      found.push({ type: match[2], name: match[4] });
    }
    if (!found.length) return false;
    var chosen = found[0];
    if (name) {
      for (var i = 0; i < found.length; i++) if (found[i].name === name) chosen = found[i];
    }
    return chosen.type === "subscription";
  }

  function fetcher(params, options) {
    var headers = (options && options.headers) || {};
    if (isSubscription(params)) {
      var client = wsClient(headers);
      return {
        subscribe: function (sink) {
          var dispose = client.subscribe(params, {
            next: function (value) { sink.next(value); },
            // shown as {"errors": [...]}: a CloseEvent alone shows as {"isTrusted": true}
            error: function (error) { sink.next({ errors: readable(error) }); sink.complete(); },
            complete: function () { sink.complete(); },
          });
          return { unsubscribe: dispose };
        },
      };
    }
    var all = Object.assign({ "content-type": "application/json", accept: "application/graphql-response+json, application/json" }, headers);
    return fetch(url, { method: "POST", headers: all, body: JSON.stringify(params) }).then(
      function (response) { return response.json(); }
    );
  }

  var explorer = GraphiQLPluginExplorer.explorerPlugin();
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      plugins: [explorer],
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: persistHeaders,
      storage: storage,
      inputValueDeprecation: true,
    })
  );
})();
