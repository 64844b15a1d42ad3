// Renders /api/v1/openapi.json with Swagger UI (swagger-ui-dist 5.35.0,
// Apache-2.0, embedded: the page loads nothing from elsewhere).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/api/v1/openapi.json",
    dom_id: "#api",
    deepLinking: true,
    persistAuthorization: false,
    tryItOutEnabled: false,
  });
});
