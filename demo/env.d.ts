// Vite's client types: CSS imports and import.meta.env in the demo page.
/// <reference types="vite/client" />
