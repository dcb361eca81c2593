/** The server version reported to clients (connect result) and in `info`. */
export const VERSION = '0.1.0';
