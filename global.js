// Types only: see global.d.ts. Lets `import 'sails-hook-rooms/global'` load at run time too.
