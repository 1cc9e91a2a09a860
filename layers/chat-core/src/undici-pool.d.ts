// undici's pool module on its own (signed-http.ts): the class its index exports as `Pool`.
declare module 'undici/lib/dispatcher/pool' {
  import { Pool } from 'undici';
  export default Pool;
}
