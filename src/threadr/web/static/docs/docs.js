// Starts Swagger UI on this service's own OpenAPI document. A file, not an inline script: the
// page's Content-Security-Policy runs scripts from this origin only.
"use strict";

window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  // No top bar (StandaloneLayout's) and no `?url=` from the address: only our document loads.
  layout: "BaseLayout",
  queryConfigEnabled: false,
  // No validator badge: it is an image from validator.swagger.io.
  validatorUrl: null,
  deepLinking: true,
  displayRequestDuration: true,
  defaultModelsExpandDepth: 0,
});
